// What the decision pipeline reports at its stage boundaries, in one place: each
// stage timed (and traced under the Check's span), each decision counted, token
// and obligation outcomes. The pipeline calls these few methods between stages;
// nothing inside a stage knows about metrics or spans.
import type { Attributes } from "@opentelemetry/api";
import { createMetrics, type Metrics, type ObligationOutcome, type Stage } from "./metrics.js";
import { Tracing, type TraceContext } from "./tracing.js";

export class Instruments {
  constructor(
    readonly metrics: Metrics = createMetrics(),
    readonly tracing: Tracing = Tracing.off(),
  ) {}

  /** Runs one stage: timed in verdict_stage_duration_seconds, and a span under `trace` when tracing. */
  async stage<T>(trace: TraceContext | undefined, stage: Stage, run: () => T | Promise<T>, describe?: (result: T) => Attributes): Promise<T> {
    const end = this.metrics.stageDuration.startTimer({ stage });
    try {
      return await this.tracing.span(trace, stage, run, describe);
    } finally {
      end();
    }
  }

  /** A decision made, whichever edge asked for it. */
  decided(api: string, decision: string, reason: string | undefined): void {
    this.metrics.decisions.inc({ decision, reason: reason ?? "none", api });
  }

  /** The token stage's outcome: "valid", or the reason code it was refused with. */
  tokenVerified(result: string, cached: boolean): void {
    this.metrics.tokenVerifications.inc({ result });
    if (cached) this.metrics.tokenCacheHits.inc();
  }

  obligations(outcome: ObligationOutcome, types: readonly string[]): void {
    for (const type of types) this.metrics.obligations.inc({ type, outcome });
  }
}
