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
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Counter<L>({ name, help, labelNames, registers });
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
      "Policy evaluations answered with policy_error, by reason (timeout, memory, error, invalid_output, overloaded).",
      ["bundle", "reason"],
    ),
    shadowEvaluations: counter("verdict_shadow_evaluations_total", "Shadow (candidate bundle) evaluations by outcome (agree, disagree, error, skipped).", [
      "outcome",
    ]),
    shadowRecordFailures: counter(
      "verdict_shadow_record_failures_total",
      "Shadow disagreements that could not be recorded (database unavailable, too many writes in flight).",
    ),
  };
}
