// Release: gives back the obligations of an earlier decision whose action did not
// happen. The stores hold what each decision applied (its holdings), so Release
// finds them there and gives each back with one conditional update that takes
// effect only while it is still held: exactly once, whoever else releases at the
// same time and whenever a write that missed its deadline lands. A retry after a
// failure completes what is left and says what it gave back itself. Another API's
// decision is reported as unknown, as is one that holds nothing (no obligations,
// its windows over, or more than RELEASABLE newer reservations on its counter). A
// brake's count (a type applied on every effect) is never given back: it counts
// decisions, and a Release of a denial would otherwise let an agent undo its own.
import type { AppliedObligation, Holding, ObligationPorts } from "../contract/index.js";
import type { ObligationRegistry } from "./registry.js";

export type ReleaseStatus = "released" | "already_released" | "unknown_decision";

export interface ReleaseResult {
  status: ReleaseStatus;
  /** What this release gave back, in the wire's shape (total 0), in the decision's order. */
  released: AppliedObligation[];
}

const STORES = ["counters", "once"] as const satisfies readonly (keyof ObligationPorts)[];

export async function releaseDecision(registry: ObligationRegistry, ports: ObligationPorts, decisionId: string, api: string): Promise<ReleaseResult> {
  const found = (await Promise.all(STORES.map((store) => ports[store].holdings(decisionId))))
    .flat()
    .filter((holding) => holding.holder.api === api && !isBrake(registry, holding));
  if (found.length === 0) return { status: "unknown_decision", released: [] };
  const held = found.filter((holding) => !holding.released).sort((a, b) => a.holder.index - b.holder.index);
  const given = await Promise.all(held.map((holding) => ports[holding.store].give(holding)));
  const released = held.flatMap((holding: Holding, i) => (given[i] && holding.shown ? [{ ...holding.shown, total: 0 }] : []));
  return { status: released.length > 0 ? "released" : "already_released", released };
}

/** A holding of a type applied on every effect (a brake's count): not the decision's to give back. */
function isBrake(registry: ObligationRegistry, holding: Holding): boolean {
  return holding.shown !== undefined && registry.find(holding.shown.type)?.onEveryEffect === true;
}
