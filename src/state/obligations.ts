// Applies what a policy asked for once it allowed: all of a decision's obligations
// hold, or none does (earlier ones are given back when a later one fails).
import type { ObligationRequest } from "../policy/index.js";
import type { Reason } from "../reasons/index.js";
import { reserve, unreserve } from "./counters.js";
import { counterId, displayKey } from "./keys.js";
import type { StateStore } from "./store.js";
import { bucketOf, windowName } from "./windows.js";

export interface AppliedObligation {
  type: "reserve";
  key: string;
  amount: number;
  limit: number;
  window: string;
  /** The counter after this decision. */
  total: number;
}

export type ObligationOutcome =
  | { ok: true; applied: AppliedObligation[] }
  | { ok: false; reason: Reason; failed: ObligationRequest };

interface Undo {
  (): Promise<void>;
}

export async function applyObligations(
  store: StateStore,
  requests: readonly ObligationRequest[],
  nowMs: number,
  onUndoFailure: (error: unknown) => void = () => {},
): Promise<ObligationOutcome> {
  const applied: AppliedObligation[] = [];
  const undos: Undo[] = [];
  const rollBack = async () => {
    for (const undo of undos.reverse()) {
      // A failed undo leaves budget held until its window ends: never an overspend.
      await undo().catch(onUndoFailure);
    }
  };
  try {
    for (const request of requests) {
      const bucket = bucketOf(request.window, nowMs);
      const id = counterId(request.key, bucket.id);
      const result = await reserve(store, {
        id,
        key: displayKey(request.key),
        window: bucket.id,
        amount: request.amount,
        limit: request.limit,
        expiresAt: bucket.end,
      });
      if (!result.ok) {
        await rollBack();
        return { ok: false, reason: request.reason, failed: request };
      }
      undos.push(() => unreserve(store, id, request.amount));
      applied.push({
        type: "reserve",
        key: displayKey(request.key),
        amount: request.amount,
        limit: request.limit,
        window: windowName(request.window),
        total: result.total,
      });
    }
  } catch (error) {
    await rollBack();
    throw error;
  }
  return { ok: true, applied };
}
