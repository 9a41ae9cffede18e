// The console's charts and agent list, computed from a bounded sample of the trail:
// the newest records of a window read in the time index's order with only the fields
// a summary needs (AuditStore.sample), so a summary costs one index scan of at most
// SAMPLE_LIMIT entries, whatever the collection holds.
import { AuditQueryError, type AuditQuery, type DecisionRecord, type RecordDecision } from "../../../audit/index.js";

export const SAMPLE_LIMIT = 5_000;

export const SUMMARY_FIELDS = ["time", "decision", "reasons.code", "client_id", "client_type", "subject", "caller.api", "count"] as const;

/** How many decisions a record stands for: a counted record of refusals (src/audit/refusals.ts) its count. */
const decisionsIn = (record: Partial<DecisionRecord>): number => record.count ?? 1;

type Counts = Record<RecordDecision, number>;
const zero = (): Counts => ({ ALLOW: 0, DENY: 0, STEP_UP: 0, ERROR: 0 });

/** Bucket widths a chart of about 24-60 bars can use. */
const BUCKETS_MS = [60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 6 * 3_600_000, 86_400_000];

/** The charts' longest window: a year of day-wide bars (the trail keeps 90 days by default; the page asks for 24 hours). */
export const MAX_STATS_WINDOW_DAYS = 366;
const MAX_STATS_WINDOW_MS = MAX_STATS_WINDOW_DAYS * 86_400_000;

/**
 * The charts' window (since, else 24 hours ago, to until, else now), refused beyond
 * MAX_STATS_WINDOW_DAYS: decisionStats lays out every bucket of it at once, and a
 * window of 16 million days (since=16000000d) would take the event loop for seconds.
 */
export function statsWindow(query: Pick<AuditQuery, "since" | "until">, now: number): { from: number; to: number } {
  const from = query.since?.getTime() ?? now - 86_400_000;
  const to = query.until?.getTime() ?? now;
  // Not `>`: a time too far for a Date (since=999999999d) is NaN, and refused too.
  if (!(to - from <= MAX_STATS_WINDOW_MS)) {
    throw new AuditQueryError(`the charts cover at most ${MAX_STATS_WINDOW_DAYS} days from since to until (or now): ask for a shorter window`);
  }
  return { from, to };
}

export interface DecisionStats {
  from: string;
  to: string;
  bucket_ms: number;
  /** Decisions per bucket by outcome, oldest first. */
  series: ({ t: string } & Counts)[];
  /** Reason codes of DENY and STEP_UP decisions, most frequent first (at most 10). */
  top_reasons: { code: string; count: number }[];
  /** Decisions per agent, busiest first (at most 10). */
  agents: ({ client_id: string; total: number } & Counts)[];
  /** Records read; when it is the limit, older records of the window were not counted. */
  sampled: number;
  truncated: boolean;
}

export function decisionStats(records: readonly Partial<DecisionRecord>[], from: number, to: number): DecisionStats {
  const bucket = BUCKETS_MS.find((ms) => (to - from) / ms <= 60) ?? BUCKETS_MS[BUCKETS_MS.length - 1]!;
  const start = Math.floor(from / bucket) * bucket;
  const series = new Map<number, Counts>();
  for (let t = start; t < to; t += bucket) series.set(t, zero());
  const reasons = new Map<string, number>();
  const agents = new Map<string, Counts>();
  for (const record of records) {
    const decision = record.decision ?? "ERROR";
    const time = record.time?.getTime() ?? 0;
    const counts = series.get(Math.floor(time / bucket) * bucket);
    const n = decisionsIn(record);
    if (counts) counts[decision] += n;
    if (decision === "DENY" || decision === "STEP_UP") {
      for (const reason of record.reasons ?? []) reasons.set(reason.code, (reasons.get(reason.code) ?? 0) + n);
    }
    const agent = record.client_id ?? "(no verified token)";
    const perAgent = agents.get(agent) ?? zero();
    perAgent[decision] += n;
    agents.set(agent, perAgent);
  }
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    bucket_ms: bucket,
    series: [...series].map(([t, counts]) => ({ t: new Date(t).toISOString(), ...counts })),
    top_reasons: [...reasons]
      .map(([code, count]) => ({ code, count }))
      .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code))
      .slice(0, 10),
    agents: [...agents]
      .map(([client_id, counts]) => ({ client_id, total: counts.ALLOW + counts.DENY + counts.STEP_UP + counts.ERROR, ...counts }))
      .sort((a, b) => b.total - a.total || a.client_id.localeCompare(b.client_id))
      .slice(0, 10),
    sampled: records.length,
    truncated: records.length >= SAMPLE_LIMIT,
  };
}

export interface AgentSummary {
  client_id: string;
  client_type: string;
  /** The users (subjects) it acted for in the sample, at most 20. */
  users: string[];
  user_count: number;
  apis: string[];
  last_seen: string;
  counts: Counts;
}

/** Every agent (client_id) in the sample with its users, newest activity first. */
export function agentSummaries(records: readonly Partial<DecisionRecord>[]): AgentSummary[] {
  const agents = new Map<string, { type: string; users: Set<string>; apis: Set<string>; last: number; counts: Counts }>();
  for (const record of records) {
    if (record.client_id === undefined) continue;
    let agent = agents.get(record.client_id);
    if (!agent) {
      agent = { type: record.client_type ?? "", users: new Set(), apis: new Set(), last: 0, counts: zero() };
      agents.set(record.client_id, agent);
    }
    if (record.subject !== undefined) agent.users.add(record.subject);
    if (record.caller?.api !== undefined) agent.apis.add(record.caller.api);
    agent.last = Math.max(agent.last, record.time?.getTime() ?? 0);
    agent.counts[record.decision ?? "ERROR"] += decisionsIn(record);
  }
  return [...agents]
    .map(([client_id, a]) => ({
      client_id,
      client_type: a.type,
      users: [...a.users].sort().slice(0, 20),
      user_count: a.users.size,
      apis: [...a.apis].sort(),
      last_seen: new Date(a.last).toISOString(),
      counts: a.counts,
    }))
    .sort((a, b) => b.last_seen.localeCompare(a.last_seen) || a.client_id.localeCompare(b.client_id));
}

export interface CounterUse {
  type: string;
  key: string;
  window: string;
  /** The counter after the newest decision that touched it. */
  total: number;
  limit: number;
  /** When that decision was made. */
  as_of: string;
}

/**
 * An agent's rate and budget use against its limits: for each counter its decisions
 * enforced (reserve, rate), the total and limit the newest of them left it at.
 */
export function counterUse(records: readonly Partial<DecisionRecord>[]): CounterUse[] {
  const seen = new Map<string, CounterUse>();
  // Newest first: the first record that names a counter has its latest total.
  for (const record of records) {
    for (const obligation of record.obligations ?? []) {
      if (obligation.limit <= 0 || seen.has(obligation.key)) continue;
      seen.set(obligation.key, {
        type: obligation.type,
        key: obligation.key,
        window: obligation.window,
        total: obligation.total,
        limit: obligation.limit,
        as_of: (record.time ?? new Date(0)).toISOString(),
      });
    }
  }
  return [...seen.values()].sort((a, b) => b.total / b.limit - a.total / a.limit || a.key.localeCompare(b.key));
}
