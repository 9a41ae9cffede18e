// Decisions: filter the trail, see it over time (by outcome, top denial reasons,
// per agent), and open one decision's full record. What a token or a request supplied
// (subjects, client ids, resources, context, reasons) is shown printable; subjects,
// agents and actor chains each in their own <bdi> (isolated.tsx).
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, problemOf, type DecisionRecord, type Filters, type Stats } from "../api.js";
import { BarChart, COLORS } from "../charts.js";
import { Chain, Value } from "../isolated.js";
import { printable, printableJson } from "../printable.js";

const FIELDS: [keyof Filters, string, string][] = [
  ["subject", "Subject (user)", "alice"],
  ["agent", "Agent (client_id)", "agent-1"],
  ["action", "Action", "invoices:read"],
  ["reason", "Reason", "limit_exceeded"],
  ["api", "API", "invoices-api"],
  ["since", "Since", "1h, 7d or 2026-11-24T12:00:00Z"],
  ["until", "Until", "RFC 3339 time"],
];

export function Badge({ decision }: { decision: string }) {
  return <span class={`badge ${decision.toLowerCase()}`}>{decision}</span>;
}

export function DecisionTable({ decisions, caption }: { decisions: DecisionRecord[]; caption: string }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Decision</th>
          <th scope="col">Subject</th>
          <th scope="col">Agent</th>
          <th scope="col">Action</th>
          <th scope="col">Resource</th>
          <th scope="col">Reasons</th>
          <th scope="col">API</th>
        </tr>
      </thead>
      <tbody>
        {decisions.map((d) => (
          <tr key={d.decision_id}>
            <td>
              <a href={`#/decisions/${encodeURIComponent(d.decision_id)}`}>{new Date(d.time).toLocaleString()}</a>
            </td>
            <td>
              <Badge decision={d.decision} />
            </td>
            <td>{d.subject !== undefined ? <Value text={d.subject} /> : "—"}</td>
            <td>{d.client_id !== undefined ? <Value text={d.client_id} /> : "—"}</td>
            <td>{printable(d.action)}</td>
            <td>{printable(`${d.resource.type}/${d.resource.id}`)}</td>
            <td>{printable(d.reasons.map((r) => r.code).join(", "))}</td>
            <td>{printable(d.caller.api)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Charts({ stats }: { stats: Stats }) {
  const outcomes = ["ALLOW", "DENY", "STEP_UP", "ERROR"] as const;
  const fmt = (t: string) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return (
    <section class="charts" aria-label="Charts">
      <figure>
        <figcaption>Decisions over time, by outcome</figcaption>
        <BarChart
          label={`Decisions over time: ${outcomes.map((o) => `${o} ${stats.series.reduce((n, s) => n + s[o], 0)}`).join(", ")}`}
          config={{
            type: "bar",
            data: {
              labels: stats.series.map((s) => fmt(s.t)),
              datasets: outcomes.map((o) => ({ label: o, data: stats.series.map((s) => s[o]), backgroundColor: COLORS[o] })),
            },
            options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
          }}
        />
      </figure>
      <figure>
        <figcaption>Top denial reasons</figcaption>
        <BarChart
          label={printable(`Top denial reasons: ${stats.top_reasons.map((r) => `${r.code} ${r.count}`).join(", ") || "none"}`)}
          config={{
            type: "bar",
            data: {
              labels: stats.top_reasons.map((r) => printable(r.code)),
              datasets: [{ label: "DENY and STEP_UP", data: stats.top_reasons.map((r) => r.count), backgroundColor: COLORS.DENY }],
            },
            options: { indexAxis: "y", plugins: { legend: { display: false } } },
          }}
        />
      </figure>
      <figure>
        <figcaption>Activity per agent</figcaption>
        <BarChart
          label={printable(`Activity per agent: ${stats.agents.map((a) => `${a.client_id} ${a.total}`).join(", ") || "none"}`)}
          config={{
            type: "bar",
            data: {
              labels: stats.agents.map((a) => printable(a.client_id)),
              datasets: outcomes.map((o) => ({ label: o, data: stats.agents.map((a) => a[o]), backgroundColor: COLORS[o] })),
            },
            options: { indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true } } },
          }}
        />
      </figure>
      {stats.truncated && <p class="note">Charts count the newest {stats.sampled} decisions of the window.</p>}
    </section>
  );
}

function Detail({ id }: { id: string }) {
  const [record, setRecord] = useState<DecisionRecord | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setRecord(null);
    api
      .decision(id)
      .then((r) => setRecord(r.decision))
      .catch((e: unknown) => setError(problemOf(e)));
  }, [id]);
  if (error)
    return (
      <p class="problem" role="alert">
        {error}
      </p>
    );
  if (!record) return <p>Loading…</p>;
  const rows: [string, ComponentChildren][] = [
    ["Decision id", record.decision_id],
    ["Time", record.time],
    ["Subject", record.subject !== undefined && record.subject !== "" ? <Value text={record.subject} /> : undefined],
    [
      "Agent",
      record.client_id ? (
        <>
          <Value text={record.client_id} /> (<Value text={record.client_type ?? ""} />)
        </>
      ) : undefined,
    ],
    ["Actor chain", <Chain actors={record.actors} />],
    ["Issuer", record.issuer],
    ["Scopes", record.scopes?.join(" ")],
    ["acr", record.acr],
    ["API", `${record.caller.api} (${record.caller.audience})`],
    ["Action", record.action],
    ["Resource", `${record.resource.type}/${record.resource.id}`],
    ["Policy revision", record.policy_revision],
    ["Latency", `${record.latency_ms} ms`],
    ["Request id", record.request_id],
  ];
  return (
    <article class="detail" aria-labelledby="detail-title">
      <p>
        <a href="#/decisions">← All decisions</a>
      </p>
      <h2 id="detail-title">
        <Badge decision={record.decision} /> {printable(`${record.action} on ${record.resource.type}/${record.resource.id}`)}
      </h2>
      <dl>
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v === undefined || v === "" ? "—" : typeof v === "string" || typeof v === "number" ? printable(String(v)) : v}</dd>
          </div>
        ))}
      </dl>
      <h3>Reasons</h3>
      <ul>
        {record.reasons.map((r) => (
          <li key={r.code}>
            <code>{printable(r.code)}</code>: {printable(r.message)}
          </li>
        ))}
        {record.reasons.length === 0 && <li>none</li>}
      </ul>
      <h3>Challenge</h3>
      <pre tabIndex={0}>{record.challenge ? printableJson(record.challenge, 2) : "none"}</pre>
      <h3>Obligations enforced</h3>
      <pre tabIndex={0}>{record.obligations.length ? printableJson(record.obligations, 2) : "none"}</pre>
      <h3>Shadow bundle</h3>
      <pre tabIndex={0}>{record.shadow ? printableJson(record.shadow, 2) : "no shadow verdict"}</pre>
      <h3>Context and resource attributes (masked)</h3>
      <pre tabIndex={0}>{printableJson({ context: record.context, attributes: record.resource.attributes }, 2)}</pre>
    </article>
  );
}

export function DecisionsPage({ decisionId }: { decisionId: string | undefined }) {
  const [draft, setDraft] = useState<Filters>({ since: "24h" });
  const [filters, setFilters] = useState<Filters>({ since: "24h" });
  const [decisions, setDecisions] = useState<DecisionRecord[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(true);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    if (!live || decisionId) return;
    const timer = setInterval(() => setTick((t) => t + 1), 5_000);
    return () => clearInterval(timer);
  }, [live, decisionId]);
  useEffect(() => {
    if (decisionId) return;
    Promise.all([api.decisions(filters), api.stats(filters)])
      .then(([list, s]) => {
        setDecisions(list.decisions);
        setNext(list.next_page_token);
        setStats(s);
        setError(null);
      })
      .catch((e: unknown) => setError(problemOf(e)));
  }, [JSON.stringify(filters), tick, decisionId]);

  if (decisionId) return <Detail id={decisionId} />;
  return (
    <>
      <h1>Decisions</h1>
      <form
        class="filters"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters({ ...draft });
        }}
      >
        {FIELDS.map(([name, label, placeholder]) => (
          <div key={name}>
            <label for={`filter-${name}`}>{label}</label>
            <input
              id={`filter-${name}`}
              name={name}
              value={draft[name] ?? ""}
              placeholder={placeholder}
              onInput={(e) => setDraft({ ...draft, [name]: e.currentTarget.value })}
            />
          </div>
        ))}
        <div>
          <label for="filter-decision">Decision</label>
          <select id="filter-decision" name="decision" value={draft.decision ?? ""} onChange={(e) => setDraft({ ...draft, decision: e.currentTarget.value })}>
            <option value="">any</option>
            <option>ALLOW</option>
            <option>DENY</option>
            <option>STEP_UP</option>
            <option>ERROR</option>
          </select>
        </div>
        <div class="actions">
          <button type="submit" class="primary">
            Filter
          </button>
          <label class="inline">
            <input type="checkbox" checked={live} onChange={(e) => setLive(e.currentTarget.checked)} /> Live (every 5 s)
          </label>
        </div>
      </form>
      {error && (
        <p class="problem" role="alert">
          {error}
        </p>
      )}
      {stats && <Charts stats={stats} />}
      <DecisionTable decisions={decisions} caption={`${decisions.length} decisions, newest first`} />
      {next && (
        <button
          type="button"
          onClick={() =>
            void api
              .decisions(filters, next)
              .then((page) => {
                setDecisions([...decisions, ...page.decisions]);
                setNext(page.next_page_token);
              })
              .catch((e: unknown) => setError(problemOf(e)))
          }
        >
          More
        </button>
      )}
    </>
  );
}
