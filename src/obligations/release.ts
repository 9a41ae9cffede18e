// Release: undoes the obligations of an earlier decision whose action did not
// happen. Idempotent twice over: every undo only removes what that decision added,
// so nothing is ever given back twice, and each ledger entry is then claimed with a
// conditional update (so a later release reports already_released). Another API's decision is reported as unknown, as is one whose ledger
// expired with its windows.
import type { AppliedObligation } from "../contract/index.js";
import type { EnforcePorts } from "./apply.js";
import type { ObligationRegistry } from "./registry.js";

export type ReleaseStatus = "released" | "already_released" | "unknown_decision";

export interface ReleaseResult {
  status: ReleaseStatus;
  /** What this release gave back, in the wire's shape (total 0). */
  released: AppliedObligation[];
}

export async function releaseDecision(registry: ObligationRegistry, ports: EnforcePorts, decisionId: string, api: string, now: Date): Promise<ReleaseResult> {
  const found = await ports.ledger.find(decisionId, now);
  if (!found || found.api !== api) return { status: "unknown_decision", released: [] };
  const released: AppliedObligation[] = [];
  for (const [index, entry] of found.entries.entries()) {
    if (entry.undone) continue;
    // Known before anything is done: an entry this Verdict cannot undo stays for one that can.
    const type = registry.get(entry.type);
    // Undone first, then claimed: an undo is exact and repeatable, so a release that fails half way (a
    // claim or an undo that lands after its deadline) is finished by the next one; claimed first, a claim
    // that landed late marked the entry undone while its budget stayed held for good.
    await type.undo(entry.undo, ports, decisionId);
    if (await ports.ledger.claim(decisionId, index)) released.push({ type: entry.type, ...entry.display, total: 0 });
  }
  return { status: released.length > 0 ? "released" : "already_released", released };
}
