// Release: undoes the obligations of an earlier decision whose action did not
// happen. Idempotent twice over: each ledger entry is claimed with a conditional
// update before it is undone (so a second release reports already_released), and
// every undo only removes what that decision added, so nothing is ever given back
// twice. Another API's decision is reported as unknown, as is one whose ledger
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
    // Known before it is claimed: an entry this Verdict cannot undo stays for one that can.
    const type = registry.get(entry.type);
    if (!(await ports.ledger.claim(decisionId, index))) continue;
    await type.undo(entry.undo, ports, decisionId);
    released.push({ type: entry.type, ...entry.display, total: 0 });
  }
  return { status: released.length > 0 ? "released" : "already_released", released };
}
