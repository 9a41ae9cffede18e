// `verdict policy replay`: what a candidate bundle would change, from the decisions
// the audit trail recorded. Reads the trail and the counters (find only), writes
// nothing; the evaluation is src/policy/replay.ts.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { AuditQueryError, AuditStore, isEventRecord, MASKED, parseAuditQuery, publicRecord, type AuditQueryRequest } from "../audit/index.js";
import { loadConfigFile, type Environment } from "../config/index.js";
import { VerdictError } from "../errors/index.js";
import { silentLogger } from "../observability/index.js";
import { defaultBundlePath } from "../paths.js";
import { DEFAULT_BOUNDS, loadBundle, PolicyEngine, Replay, type ReplayAnswer, type ReplaySummary } from "../policy/index.js";
import { openState } from "../state/index.js";
import { parseOptions, required, UsageError } from "./args.js";
import { openCommandDatabase } from "./local-database.js";
import { positiveInteger } from "./policy-command.js";
import { printable } from "./printable.js";

const MAX_RECORDS = 100_000;
const PAGE = 1_000;

export const replayUsage = `verdict policy replay --candidate BUNDLE [--since 24h] [options]

  re-evaluate the decisions the audit trail recorded with a candidate bundle,
  through the engine and output validation the server runs, and summarise what
  would change, by effect, action, reason and agent, with examples (decision
  ids). Reads the audit trail and the counters only: nothing is written. A
  baseline (the bundle that made the decisions) is replayed beside it, to count
  the records replay reproduces: an audit record holds no token and masks caller
  data, so some cannot be rebuilt (the output lists what replay cannot reproduce)

  --candidate B    the candidate bundle (.tar.gz or a directory)
  --baseline B     the bundle that made the recorded decisions (default: the
                   configuration's bundle with --config, else
                   build/bundle.tar.gz when it exists)
  --since T        records from T on: a duration back from now (90s, 15m, 24h,
                   7d) or an RFC 3339 time (default 24h)
  --until T        records before T (the same forms)
  --limit N        at most N records, newest first (default ${PAGE}, at most ${MAX_RECORDS})
  --action A       only records of this action
  --agent C        only records of this agent (the token's client_id)
  --examples N     examples (decision ids) per action and change of effect (default 5)
  --json           the summary as one JSON object
  --config FILE    Verdict's configuration: its database and its bundle; else
                   MONGODB_URI, else the development database (a running
                   verdict serve --profile dev)
  --database DB    the database (default: the configuration's, else verdict)`;

export async function replay(argv: string[], env: Environment): Promise<void> {
  const options = parseOptions(argv, {
    candidate: { type: "string" },
    baseline: { type: "string" },
    since: { type: "string", default: "24h" },
    until: { type: "string" },
    limit: { type: "string" },
    action: { type: "string" },
    agent: { type: "string" },
    examples: { type: "string" },
    json: { type: "boolean", default: false },
    config: { type: "string" },
    database: { type: "string" },
  });
  const candidatePath = resolve(required(options.candidate, "--candidate"));
  const limit = positiveInteger(options.limit, "--limit", PAGE);
  if (limit > MAX_RECORDS) throw new UsageError(`--limit must be at most ${MAX_RECORDS}`);
  const examplesPerGroup = positiveInteger(options.examples, "--examples", 5);
  const now = Date.now();
  const filters: AuditQueryRequest = {
    // Decisions only: audit events (suspensions, approvals) are not replayed.
    kind: "decision",
    since: options.since,
    ...(options.until !== undefined ? { until: options.until } : {}),
    ...(options.action !== undefined ? { action: options.action } : {}),
    ...(options.agent !== undefined ? { clientId: options.agent } : {}),
  };
  const queryOf = (pageLimit: number, pageToken?: string) => {
    try {
      // Decisions only: the trail's audit events (suspensions, approvals) are not evaluated.
      return parseAuditQuery({ ...filters, kind: "decision", limit: pageLimit, ...(pageToken !== undefined ? { pageToken } : {}) }, now);
    } catch (error) {
      if (error instanceof AuditQueryError) throw new UsageError(`--${error.message}`);
      throw error;
    }
  };
  const first = queryOf(Math.min(limit, PAGE));

  const configBundle = options.config !== undefined ? loadConfigFile(options.config, env).bundle : undefined;
  const baselinePath = options.baseline ?? configBundle ?? (existsSync(defaultBundlePath) ? defaultBundlePath : undefined);
  const bounds = { timeoutMs: DEFAULT_BOUNDS.timeoutMs, memoryMb: DEFAULT_BOUNDS.memoryMb, workers: 1 };
  const candidate = await PolicyEngine.load(await loadBundle(candidatePath), { bounds });
  const baseline = baselinePath !== undefined ? await PolicyEngine.load(await loadBundle(resolve(baselinePath)), { bounds }) : undefined;
  const database = await openCommandDatabase(options.config, env, options.database);
  try {
    // A command, not a request path: patient deadlines. Both stores are only read (find).
    const store = AuditStore.open(database.db, { timeoutMs: 10_000 });
    const { counters } = openState(database.db, { timeoutMs: 10_000, log: silentLogger() });
    const replayed = new Replay({
      candidate,
      ...(baseline ? { baseline } : {}),
      readCounters: async (queries, nowMs) => (await counters.read([queries], nowMs))[0] ?? {},
      masked: MASKED,
      examplesPerGroup,
    });
    let query = first;
    for (let left = limit; left > 0;) {
      let page;
      try {
        page = await store.query(query, now);
      } catch (error) {
        throw new VerdictError("audit_store_unavailable", `cannot read the audit trail from the database (${database.source}): ${(error as Error).message}`, {
          cause: error,
        });
      }
      for (const doc of page.records) if (!isEventRecord(doc)) await replayed.add(publicRecord(doc));
      left -= page.records.length;
      if (!page.nextPageToken || left <= 0) break;
      query = queryOf(Math.min(left, PAGE), page.nextPageToken);
    }
    const summary = replayed.result();
    const about = {
      candidate: { revision: candidate.revision, bundle: candidatePath },
      baseline: baseline ? { revision: baseline.revision, bundle: resolve(baselinePath as string) } : null,
      database: { source: database.source, name: database.db.name },
      window: { since: first.since?.toISOString() ?? null, until: first.until?.toISOString() ?? null, limit },
      written: "nothing: the audit trail and the counters were only read",
    };
    const { candidate: _candidate, baseline: _baseline, ...counts } = summary;
    if (options.json) process.stdout.write(JSON.stringify({ ...about, ...counts }) + "\n");
    else process.stdout.write(report(summary, about));
  } finally {
    await database.close();
    await candidate.close();
    await baseline?.close();
  }
}

interface About {
  candidate: { revision: string; bundle: string };
  baseline: { revision: string; bundle: string } | null;
  database: { source: string; name: string };
  window: { since: string | null; until: string | null; limit: number };
}

/**
 * The summary as a person reads it. What the audit trail recorded (actions, agents, subjects,
 * reasons, decision ids, revisions) is printed printable: it came from tokens and requests.
 */
export function report(s: ReplaySummary, about: About): string {
  const lines: string[] = [];
  const table = (rows: [string, string][], indent = "  ") => {
    const shown = rows.map(([k, v]) => [printable(k), printable(v)] as const);
    const width = Math.max(0, ...shown.map(([k]) => k.length));
    for (const [k, v] of shown) lines.push(`${indent}${k.padEnd(width)}  ${v}`);
  };
  const sorted = (counts: Record<string, number>) => Object.entries(counts).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  lines.push(
    `replayed ${s.replayed} of ${s.read} recorded decisions (${about.window.since ?? "the start"} to ${about.window.until ?? "now"}, newest first, at most ${about.window.limit}) from ${about.database.name} (${about.database.source})`,
    `candidate ${about.candidate.revision}  ${about.candidate.bundle}`,
    about.baseline
      ? `baseline  ${about.baseline.revision}  ${about.baseline.bundle}: reproduces ${s.fidelity.reproduced} of the ${s.fidelity.reproduced + s.fidelity.not_reproduced} replayed decisions it made`
      : "baseline  none (give --baseline): no record can be checked to be reproduced",
    "nothing was written: the audit trail and the counters were only read",
    "",
  );
  const changedOf = s.changed.total === 0 ? "nothing" : `${s.changed.total} of ${s.replayed}`;
  lines.push(`would change: ${changedOf}`);
  if (s.changed.total > 0) {
    lines.push(
      `  ${s.changed.reproduced} against records the baseline reproduces; ${s.changed.not_verified} against records it could not check; ${s.changed.not_reproduced} against the baseline's replay of records it does not reproduce`,
      "by effect",
    );
    table(sorted(s.by_effect).map(([k, n]) => [k, String(n)]));
    lines.push("by action");
    table(
      Object.entries(s.by_action)
        .filter(([, a]) => a.changed > 0)
        .sort(([, a], [, b]) => b.changed - a.changed)
        .map(([k, a]) => [k, `${a.changed} of ${a.replayed}`]),
    );
    lines.push("by reason (+ the candidate gives it, - it no longer does)");
    table(sorted(s.by_reason).map(([k, n]) => [k, String(n)]));
    lines.push("by agent");
    table(sorted(s.by_agent).map(([k, n]) => [k || "(none)", String(n)]));
    lines.push("examples");
    for (const e of s.examples) {
      lines.push(
        `  ${printable(e.decision_id)}  ${printable(e.time)}  ${printable(e.action)}  ${printable(e.agent || "-")} for ${printable(e.subject)}: ${show(e.from)} → ${show(e.to)}${e.fidelity === "reproduced" ? "" : e.fidelity === "not_verified" ? "  (not checked)" : "  (against the baseline's replay)"}`,
      );
      for (const c of e.changes)
        lines.push(
          `      ${printable(c.field)}: ${c.from !== undefined ? printable(JSON.stringify(c.from)) : "(none)"} → ${c.to !== undefined ? printable(JSON.stringify(c.to)) : "(none)"}`,
        );
    }
  }
  lines.push("");
  const notReplayed = s.not_replayed.token_not_verified + s.not_replayed.internal_error;
  if (notReplayed > 0) {
    lines.push(
      `not replayed: ${notReplayed} (no policy made them: the token did not verify ${s.not_replayed.token_not_verified}, an internal error ${s.not_replayed.internal_error})`,
    );
  }
  lines.push(`not reproduced: ${s.fidelity.not_reproduced} (the baseline answers the rebuilt input otherwise than recorded)`);
  table(sorted(s.fidelity.causes).map(([k, n]) => [String(n), k]));
  const others = sorted(s.fidelity.other_revisions);
  if (others.length > 0)
    lines.push(
      `not checked: ${s.fidelity.not_verified} decided by another revision than the baseline (${others.map(([r, n]) => `${printable(r)} ${n}`).join(", ")})`,
    );
  lines.push(
    `state: the candidate's ${s.state.from_record + s.state.from_database} state reads answered ${s.state.from_record} from the records, ${s.state.from_database} from the database as it is now`,
  );
  if (s.masked > 0) lines.push(`masked: ${s.masked} records hold masked caller data`);
  lines.push("what replay cannot reproduce:");
  for (const limit of s.limits) lines.push(`  - ${limit}`);
  return lines.join("\n") + "\n";
}

function show(a: ReplayAnswer): string {
  return printable(`${a.decision}${a.reasons.length > 0 ? ` ${a.reasons.join(",")}` : ""}`);
}
