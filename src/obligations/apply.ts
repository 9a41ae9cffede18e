// Applies what a policy asked for once it allowed: all of a decision's obligations
// hold, or none does (earlier ones are given back when a later one fails), and
// what was applied is recorded in the ledger so that Release can undo it.
import { reason, type Reason } from "@verdict/sdk/wire";
import type { AppliedObligation, LedgerEntry, LedgerPort, ObligationBase, ObligationFailure, ObligationPorts, PrincipalIds } from "../contract/index.js";
import { VerdictError } from "../errors/index.js";
import type { ObligationRegistry } from "./registry.js";

export type ObligationOutcome =
  { ok: true; applied: AppliedObligation[] } | { ok: false; reason: Reason; failed: ObligationBase; onFailure: ObligationFailure };

export interface EnforceContext {
  nowMs: number;
  decisionId: string;
  /** The calling API: only it may release the decision. */
  api: string;
  /** Whom the decision is about (the suspend type names its target from it). */
  principal?: PrincipalIds;
  onUndoFailure?: (error: unknown) => void;
}

export type EnforcePorts = ObligationPorts & { ledger: LedgerPort };

/** The ledger outlives every window it may have to undo in. */
const LEDGER_MIN_MS = 24 * 3_600_000;

export async function applyObligations(
  registry: ObligationRegistry,
  ports: EnforcePorts,
  requests: readonly ObligationBase[],
  context: EnforceContext,
): Promise<ObligationOutcome> {
  const applied: AppliedObligation[] = [];
  const entries: LedgerEntry[] = [];
  let keepLedgerUntil = context.nowMs + LEDGER_MIN_MS;
  const rollBack = async () => {
    for (const entry of [...entries].reverse()) {
      // A failed undo leaves budget held until its window ends: never an overspend.
      await registry
        .get(entry.type)
        .undo(entry.undo, ports, context.decisionId)
        .catch((error: unknown) => context.onUndoFailure?.(error));
    }
  };
  let current: ObligationBase | undefined;
  try {
    for (const request of requests) {
      current = request;
      const result = await registry.get(request.type).apply(request, ports, context);
      if (!result) {
        await rollBack();
        return { ok: false, reason: request.reason, failed: request, onFailure: request.onFailure };
      }
      const { type, total: _total, ...display } = result.applied;
      entries.push({ type, undo: result.undo, display });
      applied.push(result.applied);
      keepLedgerUntil = Math.max(keepLedgerUntil, result.until);
    }
    if (entries.length > 0) await ports.ledger.record(context.decisionId, context.api, entries, new Date(context.nowMs), new Date(keepLedgerUntil));
  } catch (error) {
    await rollBack();
    // An expiry that is no real time (a once obligation's expires_at of 1e300) is the
    // policy's error: the stores wrote nothing, and the decision is a deny.
    if (error instanceof VerdictError && error.code === "expiry_invalid" && current) {
      return {
        ok: false,
        reason: reason("policy_error", `The policy asked for an obligation that cannot be kept: ${error.message}.`),
        failed: current,
        onFailure: { effect: "deny" },
      };
    }
    throw error;
  }
  return { ok: true, applied };
}

/**
 * A deny's (or step-up's) obligations of the types that apply whatever the effect
 * (onEveryEffect: the suspend brake), each on its own: one that fails is reported
 * to `onFailure` and the decision stands. No ledger: nothing of a deny is released.
 */
export async function applyBrakes(
  registry: ObligationRegistry,
  ports: ObligationPorts,
  requests: readonly ObligationBase[],
  context: Omit<EnforceContext, "onUndoFailure">,
  onFailure: (request: ObligationBase, error: unknown) => void,
): Promise<AppliedObligation[]> {
  const applied: AppliedObligation[] = [];
  for (const request of requests) {
    const type = registry.get(request.type);
    if (!type.onEveryEffect) continue;
    try {
      const result = await type.apply(request, ports, context);
      if (result) applied.push(result.applied);
    } catch (error) {
      onFailure(request, error);
    }
  }
  return applied;
}
