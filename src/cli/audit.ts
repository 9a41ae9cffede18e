// `verdict audit query`: who did what, for whom, and why it was allowed; and who
// suspended or approved what (audit events), beside the decisions.
import {
  AuditQueryError,
  AuditStore,
  DEFAULT_LIMIT,
  isAuditEvent,
  MAX_LIMIT,
  parseAuditQuery,
  publicEntry,
  type AuditEventRecord,
  type AuditRecord,
  type TrailEntry,
} from "../audit/index.js";
import type { Environment } from "../config/index.js";
import { VerdictError } from "../errors/index.js";
import { actorChain } from "./actor-chain.js";
import { printable } from "./printable.js";
import { parseOptions, UsageError } from "./args.js";
import { openCommandDatabase } from "./local-database.js";

export const usage = `verdict audit query [filters] [--json] [--config FILE]

  --sub S            the user (token subject) the agent acted for
  --agent CLIENT_ID  the agent (the token's client_id)
  --action A         e.g. payments:transfer
  --decision D       ALLOW, DENY, STEP_UP or ERROR (no decision: gRPC INTERNAL)
  --reason CODE      a reason code, e.g. limit_exceeded (docs/reasons.md)
  --api NAME         the calling API (its decisions; events have no calling API)
  --kind K           decision, suspension or approval: only decisions, or only
                     the audit events of that kind (default: both)
  --approval ID      the story of one approval (docs/approvals.md): requested,
                     approved or refused, consumed, expired; oldest first
  --since T          a duration back from now (90s, 15m, 1h, 7d) or an RFC 3339 time
  --until T          the same; records before it
  --limit N          at most N records, newest first (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})
  --page-token T     the next page (printed when more records match)
  --json             one JSON object per record and line, instead of a table
  --explain          print the database's plan for the query instead of records
  --config FILE      the database of this configuration; without it: MONGODB_URI,
                     else the local database of a running npm start, else
                     local-mongo on its data directory (.verdict/mongo)`;

export async function audit(argv: string[], env: Environment): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== "query") throw new UsageError(sub ? `unknown audit command ${sub}` : "audit needs a command: query");
  const options = parseOptions(rest, {
    sub: { type: "string" },
    agent: { type: "string" },
    action: { type: "string" },
    decision: { type: "string" },
    reason: { type: "string" },
    api: { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    limit: { type: "string" },
    "page-token": { type: "string" },
    kind: { type: "string" },
    approval: { type: "string" },
    json: { type: "boolean", default: false },
    explain: { type: "boolean", default: false },
    config: { type: "string" },
  });
  const limit = options.limit === undefined ? undefined : Number(options.limit);
  let query;
  try {
    query = parseAuditQuery(
      {
        ...(options.sub !== undefined ? { subject: options.sub } : {}),
        ...(options.agent !== undefined ? { clientId: options.agent } : {}),
        ...(options.action !== undefined ? { action: options.action } : {}),
        ...(options.decision !== undefined ? { decision: options.decision } : {}),
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
        ...(options.api !== undefined ? { api: options.api } : {}),
        ...(options.since !== undefined ? { since: options.since } : {}),
        ...(options.until !== undefined ? { until: options.until } : {}),
        ...(limit !== undefined ? { limit: Number.isNaN(limit) ? -1 : limit } : {}),
        ...(options["page-token"] !== undefined ? { pageToken: options["page-token"] } : {}),
        ...(options.kind !== undefined ? { kind: options.kind } : {}),
        ...(options.approval !== undefined ? { approvalId: options.approval } : {}),
      },
      Date.now(),
    );
  } catch (error) {
    if (error instanceof AuditQueryError) throw new UsageError(error.message.replace(/^(limit|kind)/, "--$1").replace(/^approval id/, "--approval"));
    throw error;
  }

  const database = await openCommandDatabase(options.config, env);
  const store = AuditStore.open(database.db, { timeoutMs: 10_000 });
  try {
    if (options.explain) {
      let plan;
      try {
        plan = await store.explain(query, Date.now());
      } catch (error) {
        throw new VerdictError(
          "audit_store_unavailable",
          `the database (${database.source}) gave no plan: ${(error as Error).message} (mongo-java-server has no explain; use MongoDB)`,
          { cause: error },
        );
      }
      process.stdout.write(JSON.stringify(plan["queryPlanner"] ?? plan, null, 2) + "\n");
      return;
    }
    let result;
    try {
      result = await store.query(query, Date.now());
    } catch (error) {
      throw new VerdictError("audit_store_unavailable", `cannot read the audit trail from the database (${database.source}): ${(error as Error).message}`, {
        cause: error,
      });
    }
    const records = result.records.map(publicEntry);
    if (options.json) {
      for (const record of records) process.stdout.write(JSON.stringify(record) + "\n");
    } else {
      process.stdout.write(trailTable(records));
    }
    if (result.nextPageToken) process.stderr.write(`more records match: repeat with --page-token ${result.nextPageToken}\n`);
  } finally {
    await database.close();
  }
}

const COLUMNS: [string, (r: AuditRecord) => string, (e: AuditEventRecord) => string][] = [
  ["TIME", (r) => r.time, (e) => e.time],
  ["DECISION", (r) => r.decision, () => "EVENT"],
  ["API", (r) => r.caller.api, (e) => e.actor.api ?? `(${e.actor.via})`],
  ["SUBJECT", (r) => r.subject ?? "-", (e) => e.subject ?? "-"],
  ["AGENT", (r) => (r.client_id ? `${r.client_id}${r.client_type ? ` (${r.client_type})` : ""}` : "-"), (e) => e.client_id ?? "-"],
  ["ACTORS", (r) => actorChain(r.actors), (e) => `by ${e.actor.subject ?? e.actor.client_id ?? e.actor.api ?? e.actor.via} via ${e.actor.via}`],
  ["ACTION", (r) => counted(r.action, r.count, r.distinct_tokens), (e) => counted(e.action, e.count)],
  [
    "RESOURCE",
    (r) => `${r.resource.type}/${r.resource.id}`,
    (e) =>
      `${e.event}/${Object.entries(e.target)
        .map(([k, v]) => `${k}=${v}`)
        .join(",")}`,
  ],
  ["REASONS", (r) => (r.reasons.length > 0 ? r.reasons.map((x) => x.code).join(",") : "-"), (e) => e.reason ?? "-"],
  [
    "ENFORCED",
    (r) => (r.obligations.length > 0 ? r.obligations.map((o) => `${o.type} ${o.amount} (${o.total}/${o.limit} per ${o.window})`).join("; ") : "-"),
    (e) => (e.decision_id !== undefined ? `for decision ${e.decision_id}` : "-"),
  ],
  ["DECISION ID", (r) => r.decision_id, (e) => e.event_id],
];

/** An action as the table prints it: with how many times a counted record stands for, and over how many tokens when it says so. */
function counted(action: string, count: number | undefined, distinctTokens?: number): string {
  if (count === undefined) return action;
  return `${action} ×${count}${distinctTokens !== undefined ? ` (${distinctTokens} tokens)` : ""}`;
}

const MAX_CELL = 48;
/** Columns printed whole: a chain of agents is told apart by any of its actors, the last one's issuer included. */
const WHOLE = new Set(["ACTORS"]);

/** A value as a table prints it: printable (it may come from a token), and shortened unless its column is WHOLE. */
export function cell(text: string, max = MAX_CELL): string {
  const clean = printable(text);
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** `verdict audit query`'s table. */
export function trailTable(records: readonly TrailEntry[]): string {
  if (records.length === 0) return "no records match\n";
  const row = (entry: TrailEntry) =>
    COLUMNS.map(([name, decision, event]) => cell(isAuditEvent(entry) ? event(entry) : decision(entry), WHOLE.has(name) ? Infinity : MAX_CELL));
  const rows = [COLUMNS.map(([name]) => name), ...records.map(row)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length)));
  return rows.map((row) => row.map((value, i) => (i === row.length - 1 ? value : value.padEnd(widths[i] as number))).join("  ")).join("\n") + "\n";
}
