// A dry run's obligations: would each be met now? The stores are read, never
// written. What the dry run's earlier obligations would already have taken (the
// earlier items of a batch, this decision's earlier obligations) counts, so a
// batch that goes over a limit together previews as the real call would answer.
import type { ObligationBase, ObligationPorts } from "../contract/index.js";
import type { ObligationOutcome } from "./apply.js";
import type { ObligationRegistry } from "./registry.js";

/** What one dry run (a Check, or all items of a CheckBatch) would have taken so far. */
export class PreviewTally {
  private readonly taken = new Map<string, number>();

  takenFrom(claim: string): number {
    return this.taken.get(claim) ?? 0;
  }

  take(claim: string, amount: number): void {
    this.taken.set(claim, this.takenFrom(claim) + amount);
  }
}

/** The outcome applyObligations would have, all or none, without writing; the tally keeps what an allowed preview takes. */
export async function previewObligations(
  registry: ObligationRegistry,
  ports: ObligationPorts,
  requests: readonly ObligationBase[],
  { nowMs, tally }: { nowMs: number; tally: PreviewTally },
): Promise<ObligationOutcome> {
  const mine = new PreviewTally();
  const taken = (claim: string) => tally.takenFrom(claim) + mine.takenFrom(claim);
  const applied = [];
  for (const request of requests) {
    const previewed = await registry.get(request.type).preview(request, ports, { nowMs, taken });
    if (!previewed) return { ok: false, reason: request.reason, failed: request, onFailure: request.onFailure };
    mine.take(previewed.claim.id, previewed.claim.amount);
    applied.push(previewed);
  }
  for (const { claim } of applied) tally.take(claim.id, claim.amount);
  return { ok: true, applied: applied.map((one) => one.applied) };
}
