// Agents: every client_id seen in the trail, its users and recent decisions, and
// (when suspensions are part of this Verdict) suspend / resume with a reason. Client
// ids, users, counter keys and reasons are shown printable (they come from tokens).
import { useEffect, useState } from "preact/hooks";
import { api, problemOf, type AgentSummary, type CounterUse, type DecisionRecord, type Session, type Suspension } from "../api.js";
import { suspensions } from "../features.js";
import { printable } from "../printable.js";
import { DecisionTable } from "./decisions.js";

function SuspendForm({ clientId, suspended, onDone }: { clientId: string; suspended: boolean; onDone: () => void }) {
  const [reason, setReason] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const act = async () => {
    try {
      if (suspended) await suspensions.resume(clientId, reason);
      else await suspensions.suspend(clientId, reason);
      setMessage(printable(suspended ? `${clientId} is resumed.` : `${clientId} is suspended: its next Check is denied.`));
      setReason("");
      onDone();
    } catch (e) {
      setMessage(problemOf(e));
    }
  };
  return (
    <form
      class="suspend"
      onSubmit={(e) => {
        e.preventDefault();
        if (reason.trim()) void act();
      }}
    >
      <label>
        Reason
        <input name="reason" required value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      <button type="submit" class={suspended ? "primary" : "danger"}>
        {suspended ? "Resume" : "Suspend"} {printable(clientId)}
      </button>
      {message && <p role="status">{message}</p>}
    </form>
  );
}

function Agent({ clientId, session }: { clientId: string; session: Session }) {
  const [agent, setAgent] = useState<{ agent: AgentSummary | null; recent: DecisionRecord[]; usage: CounterUse[] } | null>(null);
  const [suspended, setSuspended] = useState<Suspension[]>([]);
  const [error, setError] = useState<string | null>(null);
  const load = () => {
    api
      .agent(clientId)
      .then(setAgent)
      .catch((e: unknown) => setError(problemOf(e)));
    if (session.features.suspensions)
      api
        .agents()
        .then((all) => setSuspended((all.suspensions ?? []).filter((s) => s.client_id === clientId)))
        .catch(() => undefined);
  };
  useEffect(load, [clientId]);
  const canSuspend = session.operator.scopes.includes("console:suspend");
  return (
    <article aria-labelledby="agent-title">
      <p>
        <a href="#/agents">← All agents</a>
      </p>
      <h1 id="agent-title">Agent {printable(clientId)}</h1>
      {error && (
        <p class="problem" role="alert">
          {error}
        </p>
      )}
      {agent?.agent && (
        <dl>
          <div>
            <dt>Client type</dt>
            <dd>{printable(agent.agent.client_type) || "—"}</dd>
          </div>
          <div>
            <dt>Users ({agent.agent.user_count})</dt>
            <dd>{printable(agent.agent.users.join(", "))}</dd>
          </div>
          <div>
            <dt>APIs</dt>
            <dd>{printable(agent.agent.apis.join(", "))}</dd>
          </div>
          <div>
            <dt>Decisions</dt>
            <dd>
              {agent.agent.counts.ALLOW} allowed, {agent.agent.counts.DENY} denied, {agent.agent.counts.STEP_UP} step-up
            </dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd>{suspended.length ? printable(`suspended: ${suspended.map((s) => s.reason).join("; ")}`) : session.features.suspensions ? "active" : "—"}</dd>
          </div>
        </dl>
      )}
      <section aria-labelledby="suspend-title">
        <h2 id="suspend-title">Suspend or resume</h2>
        {!session.features.suspensions ? (
          <p class="note">Suspensions are not part of this Verdict yet.</p>
        ) : !canSuspend ? (
          <p class="note">Your token does not carry console:suspend.</p>
        ) : (
          <SuspendForm clientId={clientId} suspended={suspended.length > 0} onDone={load} />
        )}
      </section>
      {agent && (
        <table>
          <caption>Rate and budget use against limits (as its newest allowed decisions left each counter)</caption>
          <thead>
            <tr>
              <th scope="col">Counter</th>
              <th scope="col">Type</th>
              <th scope="col">Used</th>
              <th scope="col">Limit</th>
              <th scope="col">Window</th>
              <th scope="col">As of</th>
            </tr>
          </thead>
          <tbody>
            {agent.usage.map((u) => (
              <tr key={u.key}>
                <td>
                  <code>{printable(u.key)}</code>
                </td>
                <td>{printable(u.type)}</td>
                <td>
                  <meter min={0} max={u.limit} value={u.total} aria-label={printable(`${u.key}: ${u.total} of ${u.limit}`)} /> {u.total}
                </td>
                <td>{u.limit}</td>
                <td>{printable(u.window)}</td>
                <td>{new Date(u.as_of).toLocaleString()}</td>
              </tr>
            ))}
            {agent.usage.length === 0 && (
              <tr>
                <td colSpan={6}>No counter enforced for this agent.</td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      {agent && <DecisionTable decisions={agent.recent} caption="Recent decisions" />}
    </article>
  );
}

export function AgentsPage({ agent, session }: { agent: string | undefined; session: Session }) {
  const [since, setSince] = useState("7d");
  const [list, setList] = useState<{ agents: AgentSummary[]; truncated: boolean; sampled: number; suspensions?: Suspension[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (agent) return;
    api
      .agents(since)
      .then((l) => {
        setList(l);
        setError(null);
      })
      .catch((e: unknown) => setError(problemOf(e)));
  }, [since, agent]);
  if (agent) return <Agent clientId={agent} session={session} />;
  const suspendedIds = new Set((list?.suspensions ?? []).map((s) => s.client_id));
  return (
    <>
      <h1>Agents</h1>
      <label>
        Seen in the last{" "}
        <select value={since} onChange={(e) => setSince(e.currentTarget.value)}>
          <option value="1h">hour</option>
          <option value="24h">day</option>
          <option value="7d">7 days</option>
          <option value="30d">30 days</option>
        </select>
      </label>
      {error && (
        <p class="problem" role="alert">
          {error}
        </p>
      )}
      {list && (
        <table>
          <caption>
            {list.agents.length} agents{list.truncated ? ` (in the newest ${list.sampled} decisions)` : ""}
          </caption>
          <thead>
            <tr>
              <th scope="col">Agent (client_id)</th>
              <th scope="col">Type</th>
              <th scope="col">Users</th>
              <th scope="col">Allowed</th>
              <th scope="col">Denied</th>
              <th scope="col">Step-up</th>
              <th scope="col">Last seen</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {list.agents.map((a) => (
              <tr key={a.client_id}>
                <td>
                  <a href={`#/agents/${encodeURIComponent(a.client_id)}`}>{printable(a.client_id)}</a>
                </td>
                <td>{printable(a.client_type) || "—"}</td>
                <td>
                  {printable(a.users.join(", "))}
                  {a.user_count > a.users.length ? ` and ${a.user_count - a.users.length} more` : ""}
                </td>
                <td>{a.counts.ALLOW}</td>
                <td>{a.counts.DENY}</td>
                <td>{a.counts.STEP_UP}</td>
                <td>{new Date(a.last_seen).toLocaleString()}</td>
                <td>{suspendedIds.has(a.client_id) ? "suspended" : session.features.suspensions ? "active" : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
