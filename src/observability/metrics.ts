// Verdict's metrics (Prometheus, prom-client). One registry per running Verdict,
// so that several instances in one process (tests) never share counters. Labels
// take values from small sets only (decisions, reason codes, configured API and
// issuer names, stage and operation names): never ids, subjects or resources.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export type BundleRole = "active" | "shadow";
export type ReloadFailure = "unreadable" | "invalid" | "does_not_load";
export type EvaluationFailure = "timeout" | "memory" | "error" | "invalid_output" | "overloaded";
export type ShadowOutcome = "agree" | "disagree" | "error" | "skipped";
/** The stages of a Check that are timed and traced (docs/operations.md). */
export type Stage = "verify" | "state" | "evaluate" | "enforce" | "audit";
export type ObligationOutcome = "applied" | "refused" | "released";
export type JwksOutcome = "fetched" | "failed" | "served_stale";

export interface Metrics {
  registry: Registry;
  /** 1 for the revision each bundle role serves now. */
  policyRevision: Gauge<"bundle" | "revision">;
  policyReloads: Counter<"bundle" | "result">;
  policyReloadFailures: Counter<"bundle" | "reason">;
  policyEvaluationFailures: Counter<"bundle" | "reason">;
  shadowEvaluations: Counter<"outcome">;
  shadowRecordFailures: Counter<string>;
  /** Every decision, by its decision (ALLOW, DENY, STEP_UP), its first reason code and the calling API. */
  decisions: Counter<"decision" | "reason" | "api">;
  /** Check and CheckBatch, from the request to the answer, by method. */
  checkDuration: Histogram<"method">;
  /** Every RPC answered, by method and gRPC status. */
  rpcs: Counter<"method" | "code">;
  /** Each stage of a decision (evaluate is the policy evaluation). */
  stageDuration: Histogram<"stage">;
  /** Token verifications by result: valid, or the reason code of the refusal. */
  tokenVerifications: Counter<"result">;
  /** Verifications answered from the verified-token cache. */
  tokenCacheHits: Counter<string>;
  jwksRefreshes: Counter<"issuer" | "result">;
  /** Database calls of the state stores by operation, and those that failed (timeout: past state_timeout_ms). */
  databaseCallDuration: Histogram<"operation">;
  databaseCallErrors: Counter<"operation" | "error">;
  obligations: Counter<"type" | "outcome">;
}

export interface MetricsOptions {
  /** Also the Node process metrics (CPU, memory, heap, event-loop lag), prefixed verdict_: a serving Verdict's, not a test's. */
  process?: boolean;
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Counter<L>({ name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Histogram<L>({ name, help, labelNames, buckets: SECONDS, registers });
  if (options.process) collectDefaultMetrics({ register: registry, prefix: "verdict_" });
  return {
    registry,
    policyRevision: new Gauge({
      name: "verdict_policy_revision",
      help: "1 for the policy bundle revision each role (active, shadow) serves now.",
      labelNames: ["bundle", "revision"],
      registers,
    }),
    policyReloads: counter("verdict_policy_reloads_total", "Bundle reload attempts by result (loaded, unchanged, failed).", ["bundle", "result"]),
    policyReloadFailures: counter("verdict_policy_reload_failures_total", "Bundles that failed to load (the last good one kept serving), by reason.", [
      "bundle",
      "reason",
    ]),
    policyEvaluationFailures: counter(
      "verdict_policy_evaluation_failures_total",
      "Policy evaluations answered with policy_error, by reason (timeout, memory, error, invalid_output), or refused with their call as overloaded (RESOURCE_EXHAUSTED).",
      ["bundle", "reason"],
    ),
    shadowEvaluations: counter("verdict_shadow_evaluations_total", "Shadow (candidate bundle) evaluations by outcome (agree, disagree, error, skipped).", [
      "outcome",
    ]),
    shadowRecordFailures: counter(
      "verdict_shadow_record_failures_total",
      "Shadow disagreements that could not be recorded (database unavailable, too many writes in flight).",
    ),
    decisions: counter("verdict_decisions_total", "Decisions by decision (ALLOW, DENY, STEP_UP), first reason code (none without one) and calling API.", [
      "decision",
      "reason",
      "api",
    ]),
    checkDuration: histogram("verdict_check_duration_seconds", "Check and CheckBatch latency, from the request to the answer, by method.", ["method"]),
    rpcs: counter("verdict_rpcs_total", "gRPC calls answered, by method and status code (OK, INVALID_ARGUMENT, UNAUTHENTICATED, INTERNAL, ...).", [
      "method",
      "code",
    ]),
    stageDuration: histogram(
      "verdict_stage_duration_seconds",
      "Time in each stage of a decision: verify (token), state (read), evaluate (policy), enforce (obligations), audit (record).",
      ["stage"],
    ),
    tokenVerifications: counter("verdict_token_verifications_total", "Token verifications by result: valid, or the reason code of the refusal.", ["result"]),
    tokenCacheHits: counter("verdict_token_cache_hits_total", "Token verifications answered from the verified-token cache (no signature checked)."),
    jwksRefreshes: counter("verdict_jwks_refreshes_total", "JWKS fetches by issuer and result (fetched, failed, served_stale).", ["issuer", "result"]),
    databaseCallDuration: histogram("verdict_database_call_duration_seconds", "State store database calls by operation, up to their answer or deadline.", [
      "operation",
    ]),
    databaseCallErrors: counter(
      "verdict_database_call_errors_total",
      "State store database calls that failed, by operation and error (timeout: no answer within state_timeout_ms; conflict: a duplicate key from a write that raced another, resolved by the store; silent: refused at once, unsent, while the database is known silent; error: the call failed).",
      ["operation", "error"],
    ),
    obligations: counter("verdict_obligations_total", "Obligations by type and outcome (applied, refused: its limit was reached, released).", [
      "type",
      "outcome",
    ]),
  };
}

/**
 * A metric read from a source when scraped: a gauge takes the value; a counter
 * (what the source counts since start) grows by what it counted since the last scrape.
 */
function observed(registry: Registry, kind: "counter" | "gauge", name: string, help: string, read: () => number, aggregator?: "min" | "average"): void {
  if (kind === "gauge") {
    new Gauge({
      name,
      help,
      registers: [registry],
      // how the primary of several processes sums them up (default: the sum)
      ...(aggregator ? { aggregator } : {}),
      collect() {
        this.set(read());
      },
    });
    return;
  }
  const added = increases();
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.inc(added("", read()));
    },
  });
}

/** What a count kept elsewhere (by key) added since it was last read: never less than 0. */
function increases(): (key: string, now: number) => number {
  const reported = new Map<string, number>();
  return (key, now) => {
    const before = reported.get(key) ?? 0;
    reported.set(key, Math.max(before, now));
    return Math.max(0, now - before);
  };
}

/** What the audit trail counts, read when scraped (its AuditStats). */
export interface AuditCounts {
  buffered: number;
  bufferedBytes: number;
  written: number;
  spilled: number;
  replayed: number;
  refused: number;
  rejected: number;
  lost: number;
  databaseAvailable: boolean;
}

/** The audit trail's queue and counts, read from it at each scrape. */
export function observeAudit(metrics: Metrics, stats: () => AuditCounts): void {
  const { registry } = metrics;
  observed(registry, "gauge", "verdict_audit_buffered_records", "Audit records in memory waiting to be written.", () => stats().buffered);
  observed(registry, "gauge", "verdict_audit_buffered_bytes", "Their size as JSON (bounded by audit.max_buffered_bytes).", () => stats().bufferedBytes);
  observed(registry, "counter", "verdict_audit_written_records_total", "Audit records written to the database from memory.", () => stats().written);
  observed(
    registry,
    "counter",
    "verdict_audit_spilled_records_total",
    "Audit records appended to the spill file (the database was down or slow).",
    () => stats().spilled,
  );
  observed(registry, "counter", "verdict_audit_replayed_records_total", "Audit records written to the database from spill files.", () => stats().replayed);
  observed(
    registry,
    "counter",
    "verdict_audit_refused_total",
    "Decisions refused (DENY audit_unavailable) because their record could be kept neither in memory nor in the spill file.",
    () => stats().refused,
  );
  observed(
    registry,
    "counter",
    "verdict_audit_rejected_records_total",
    "Audit records the database refused, or unreadable or forged spill lines.",
    () => stats().rejected,
  );
  observed(
    registry,
    "counter",
    "verdict_audit_lost_records_total",
    "Audit records lost at shutdown (database and spill file both failed).",
    () => stats().lost,
  );
  observed(registry, "gauge", "verdict_audit_database_available", "1 while the audit trail writes to the database, 0 while it spills.", () =>
    stats().databaseAvailable ? 1 : 0,
  );
}

/** Counts kept elsewhere by the values of one label, read when scraped, as a counter named and described by `metric`. */
export function observeCountsBy(
  metrics: Metrics,
  metric: { name: string; help: string; labelNames: [string] },
  read: () => Readonly<Record<string, number>>,
): void {
  const added = increases();
  const [label] = metric.labelNames;
  new Counter({
    ...metric,
    registers: [metrics.registry],
    collect() {
      for (const [value, now] of Object.entries(read())) this.inc({ [label]: value }, added(value, now));
    },
  });
}

/** Readiness, the database's reachability and how far its clock is from this process's, read when scraped. */
export function observeHealth(
  metrics: Metrics,
  read: { ready: () => boolean; databaseUp: () => boolean; databaseClockOffsetMs?: () => number | undefined },
): void {
  observed(
    metrics.registry,
    "gauge",
    "verdict_ready",
    "1 while this Verdict is ready for traffic (GET /readyz answers 200).",
    () => (read.ready() ? 1 : 0),
    "min",
  );
  observed(
    metrics.registry,
    "gauge",
    "verdict_database_up",
    "1 while a database server that takes writes is reachable; 0 during an outage (state decisions fail closed).",
    () => (read.databaseUp() ? 1 : 0),
    "min",
  );
  const offsetMs = read.databaseClockOffsetMs;
  if (offsetMs)
    observed(
      metrics.registry,
      "gauge",
      "verdict_database_clock_offset_seconds",
      "The database's clock minus this process's, as last measured (0 before the first measurement): windowed counters go by the database's clock.",
      () => (offsetMs() ?? 0) / 1000,
      "average",
    );
}

/** What the suspensions view counts (its FollowerStats), read when scraped. */
export interface SuspensionCounts {
  active: number;
  ageSeconds: number;
  stale: boolean;
  refreshes: number;
  failures: number;
  stalePeriods: number;
  by: string;
}

/** The suspensions view: its size, its age and whether it is stale (docs/suspensions.md). */
export function observeSuspensions(metrics: Metrics, stats: () => SuspensionCounts): void {
  const { registry } = metrics;
  observed(registry, "gauge", "verdict_suspensions_active", "Suspensions this replica's view holds.", () => stats().active);
  observed(
    registry,
    "gauge",
    "verdict_suspensions_view_age_seconds",
    "Seconds since this replica's view of the suspensions was last refreshed.",
    () => stats().ageSeconds,
  );
  observed(registry, "gauge", "verdict_suspensions_view_stale", "1 while the view is stale (no refresh within suspensions.stale_after_ms).", () =>
    stats().stale ? 1 : 0,
  );
  observed(registry, "gauge", "verdict_suspensions_change_stream", "1 while changes arrive by a change stream, 0 while the version is polled.", () =>
    stats().by === "change_stream" ? 1 : 0,
  );
  observed(
    registry,
    "counter",
    "verdict_suspensions_refreshes_total",
    "Successful refreshes of the view (a version read, or a reload).",
    () => stats().refreshes,
  );
  observed(
    registry,
    "counter",
    "verdict_suspensions_refresh_failures_total",
    "Refreshes of the view that failed (the database did not answer).",
    () => stats().failures,
  );
  observed(registry, "counter", "verdict_suspensions_stale_total", "Times the view became stale.", () => stats().stalePeriods);
}
