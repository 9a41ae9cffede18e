// Verdict's metrics (Prometheus, prom-client). One registry per running Verdict,
// so that several instances in one process (tests) never share counters.
import { Counter, Gauge, Registry } from "prom-client";

export type BundleRole = "active" | "shadow";
export type ReloadFailure = "unreadable" | "invalid" | "does_not_load";
export type EvaluationFailure = "timeout" | "memory" | "error" | "invalid_output" | "overloaded";
export type ShadowOutcome = "agree" | "disagree" | "error" | "skipped";

export interface Metrics {
  registry: Registry;
  /** 1 for the revision each bundle role serves now. */
  policyRevision: Gauge<"bundle" | "revision">;
  policyReloads: Counter<"bundle" | "result">;
  policyReloadFailures: Counter<"bundle" | "reason">;
  policyEvaluationFailures: Counter<"bundle" | "reason">;
  shadowEvaluations: Counter<"outcome">;
  shadowRecordFailures: Counter<string>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    policyRevision: new Gauge({
      name: "verdict_policy_revision",
      help: "1 for the policy bundle revision each role (active, shadow) serves now.",
      labelNames: ["bundle", "revision"],
      registers,
    }),
    policyReloads: new Counter({
      name: "verdict_policy_reloads_total",
      help: "Bundle reload attempts by result (loaded, unchanged, failed).",
      labelNames: ["bundle", "result"],
      registers,
    }),
    policyReloadFailures: new Counter({
      name: "verdict_policy_reload_failures_total",
      help: "Bundles that failed to load (the last good one kept serving), by reason.",
      labelNames: ["bundle", "reason"],
      registers,
    }),
    policyEvaluationFailures: new Counter({
      name: "verdict_policy_evaluation_failures_total",
      help: "Policy evaluations answered with policy_error, by reason (timeout, memory, error, invalid_output, overloaded).",
      labelNames: ["bundle", "reason"],
      registers,
    }),
    shadowEvaluations: new Counter({
      name: "verdict_shadow_evaluations_total",
      help: "Shadow (candidate bundle) evaluations by outcome (agree, disagree, error, skipped).",
      labelNames: ["outcome"],
      registers,
    }),
    shadowRecordFailures: new Counter({
      name: "verdict_shadow_record_failures_total",
      help: "Shadow disagreements that could not be recorded (database unavailable, too many writes in flight).",
      registers,
    }),
  };
}
