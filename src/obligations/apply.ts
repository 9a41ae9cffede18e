// Applies what a policy asked for once it allowed: all of a decision's obligations
// hold, or none does. They are applied together (one round trip, not one each);
// when one cannot be met, the others are given back, and the first that failed, in
// the policy's order, says why. Each store holds what it applied under the
// decision, which is what Release later finds and gives back.
import { reason, type Reason } from "@verdict/sdk/wire";
import type { AppliedObligation, Holding, ObligationBase, ObligationFailure, ObligationPorts } from "../contract/index.js";
import { VerdictError } from "../errors/index.js";
import type { ObligationRegistry } from "./registry.js";
import type { Applied } from "./type.js";

export type ObligationOutcome =
  { ok: true; applied: AppliedObligation[] } | { ok: false; reason: Reason; failed: ObligationBase; onFailure: ObligationFailure };

export interface EnforceContext {
  nowMs: number;
  decisionId: string;
  /** The calling API: only it may release the decision. */
  api: string;
  onUndoFailure?: (error: unknown) => void;
}

/** Gives back what a decision that is not allowed after all applied; a failed give-back leaves budget held until its window ends: never an overspend. */
export async function rollBack(ports: ObligationPorts, holdings: readonly Holding[], onUndoFailure?: (error: unknown) => void): Promise<void> {
  await Promise.all(holdings.map((holding) => ports[holding.store].give(holding, { forget: true }).catch((error: unknown) => onUndoFailure?.(error))));
}

export async function applyObligations(
  registry: ObligationRegistry,
  ports: ObligationPorts,
  requests: readonly ObligationBase[],
  context: EnforceContext,
): Promise<ObligationOutcome> {
  const { nowMs, decisionId, api } = context;
  const settled = await Promise.allSettled(
    requests.map((request, index) => registry.get(request.type).apply(request, ports, { nowMs, holder: { decisionId, api, index } })),
  );
  const applied = settled.flatMap((result) => (result.status === "fulfilled" && result.value ? [result.value] : []));
  const first = settled.findIndex((result) => result.status === "rejected" || result.value === undefined);
  if (first === -1) return { ok: true, applied: applied.map((one) => one.applied) };

  await rollBack(
    ports,
    applied.map((one: Applied) => one.holding),
    context.onUndoFailure,
  );
  const failed = settled[first] as PromiseSettledResult<Applied | undefined>;
  const request = requests[first] as ObligationBase;
  if (failed.status === "fulfilled") return { ok: false, reason: request.reason, failed: request, onFailure: request.onFailure };
  // An expiry that is no real time (a once obligation's expires_at of 1e300) is the
  // policy's error: the stores wrote nothing, and the decision is a deny.
  const error: unknown = failed.reason;
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
