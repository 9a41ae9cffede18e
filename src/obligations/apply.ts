// Applies what a policy asked for once it allowed: all of a decision's obligations
// hold, or none does. They are applied one after another in the policy's order, each
// once the ones before it hold: when one cannot be met, the ones before it are given
// back, the ones after it are never tried, and it says why. Applied together instead,
// two obligations on contended counters were met in different orders at each (each
// counter takes its first arrivals), so a decision could take one counter's last
// room and be refused by the other, which was full of decisions the first counter
// then refused: fewer allowed than either limit (3 of 5 in test/e2e/state-concurrency,
// once 32 decisions of a process did their state work at once). In order, only the
// decisions holding the first compete for the second. Each store holds what it
// applied under the decision, which is what Release later finds and gives back.
import { reason, type Reason } from "@verdict/sdk/wire";
import type { AppliedObligation, Holding, ObligationBase, ObligationFailure, ObligationPorts, PrincipalIds } from "../contract/index.js";
import { VerdictError } from "../errors/index.js";
import type { ObligationRegistry } from "./registry.js";
import type { Applied, Refused } from "./type.js";

export type ObligationOutcome =
  | { ok: true; applied: AppliedObligation[] }
  | {
      ok: false;
      reason: Reason;
      failed: ObligationBase;
      onFailure: ObligationFailure;
      /** When the same request would meet the failed obligation if nothing else changed (epoch ms), when its type says. */
      retryAtMs?: number;
    };

export interface EnforceContext {
  nowMs: number;
  decisionId: string;
  /** The calling API: only it may release the decision. */
  api: string;
  /** Whom the decision is about (the suspend type names its target from it). */
  principal?: PrincipalIds;
  onUndoFailure?: (error: unknown) => void;
}

/**
 * Gives back what a decision that is not allowed after all applied. A give-back the
 * database does not take at once is tried again in the background by its store (the
 * decision does not wait for it); one that never lands leaves budget held until its
 * window ends: never an overspend.
 */
export async function rollBack(ports: ObligationPorts, holdings: readonly Holding[], onUndoFailure?: (error: unknown) => void): Promise<void> {
  await Promise.all(holdings.map((holding) => ports[holding.store].give(holding, { forget: true }).catch((error: unknown) => onUndoFailure?.(error))));
}

export async function applyObligations(
  registry: ObligationRegistry,
  ports: ObligationPorts,
  requests: readonly ObligationBase[],
  context: EnforceContext,
): Promise<ObligationOutcome> {
  const { nowMs, decisionId, api, principal } = context;
  const applied: Applied[] = [];
  for (const [index, request] of requests.entries()) {
    let result: Applied | Refused | undefined;
    try {
      result = await registry.get(request.type).apply(request, ports, { nowMs, holder: { decisionId, api, index }, ...(principal ? { principal } : {}) });
    } catch (error) {
      await rollBack(ports, heldBy(applied), context.onUndoFailure);
      // An expiry that is no real time (a once obligation's expires_at of 1e300) is the
      // policy's error: the stores wrote nothing, and the decision is a deny.
      if (error instanceof VerdictError && error.code === "expiry_invalid") {
        return {
          ok: false,
          reason: reason("policy_error", `The policy asked for an obligation that cannot be kept: ${error.message}.`),
          failed: request,
          onFailure: { effect: "deny" },
        };
      }
      throw error;
    }
    if (!result || "refused" in result) {
      await rollBack(ports, heldBy(applied), context.onUndoFailure);
      return { ok: false, reason: request.reason, failed: request, onFailure: request.onFailure, ...(result ? { retryAtMs: result.retryAtMs } : {}) };
    }
    applied.push(result);
  }
  return { ok: true, applied: applied.map((one) => one.applied) };
}

function heldBy(applied: readonly Applied[]): Holding[] {
  return applied.flatMap((one) => (one.holding ? [one.holding] : []));
}

/**
 * A deny's (or step-up's) obligations of the types that apply whatever the effect
 * (onEveryEffect: the suspend brake), each on its own: one that fails is reported
 * to `onFailure` and the decision stands. Nothing of a deny is released.
 */
export async function applyBrakes(
  registry: ObligationRegistry,
  ports: ObligationPorts,
  requests: readonly ObligationBase[],
  context: Omit<EnforceContext, "onUndoFailure">,
  onFailure: (request: ObligationBase, error: unknown) => void,
): Promise<AppliedObligation[]> {
  const applied: AppliedObligation[] = [];
  const { nowMs, decisionId, api, principal } = context;
  for (const [index, request] of requests.entries()) {
    const type = registry.get(request.type);
    if (!type.onEveryEffect) continue;
    try {
      const result = await type.apply(request, ports, { nowMs, holder: { decisionId, api, index }, ...(principal ? { principal } : {}) });
      if (result && "applied" in result) applied.push(result.applied);
    } catch (error) {
      onFailure(request, error);
    }
  }
  return applied;
}
