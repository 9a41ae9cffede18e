// Applies what a policy asked for once it allowed: all of a decision's obligations
// hold, or none does (earlier ones are given back when a later one fails), and
// what was applied is recorded so that Release can undo it.
import type { ObligationFailure, ObligationRequest } from "../policy/index.js";
import { reason, type Reason } from "../reasons/index.js";
import { reserve } from "./counters.js";
import { InvalidExpiryError } from "./expiry.js";
import { counterId, displayKey } from "./keys.js";
import { recordApplied, undo, type Undo } from "./ledger.js";
import { consumeOnce } from "./once.js";
import type { StateStore } from "./store.js";
import { locate, windowName } from "./windows.js";

export interface AppliedObligation {
  type: ObligationRequest["type"];
  key: string;
  amount: number;
  limit: number;
  window: string;
  /** The counter after this decision (reserve, rate); 0 for once. */
  total: number;
}

export type ObligationOutcome =
  | { ok: true; applied: AppliedObligation[] }
  | { ok: false; reason: Reason; failed: ObligationRequest; onFailure: ObligationFailure };

export interface ApplyContext {
  nowMs: number;
  decisionId: string;
  /** The calling API: only it may release the decision. */
  api: string;
  onUndoFailure?: (error: unknown) => void;
}

/** The ledger outlives every window it may have to undo in. */
const LEDGER_MIN_MS = 24 * 3_600_000;

export async function applyObligations(store: StateStore, requests: readonly ObligationRequest[], context: ApplyContext): Promise<ObligationOutcome> {
  const applied: AppliedObligation[] = [];
  const undos: Undo[] = [];
  let keepLedgerUntil = context.nowMs + LEDGER_MIN_MS;
  const rollBack = async () => {
    for (const item of [...undos].reverse()) {
      // A failed undo leaves budget held until its window ends: never an overspend.
      await undo(store, item, context.decisionId).catch((error: unknown) => context.onUndoFailure?.(error));
    }
  };
  let current: ObligationRequest | undefined;
  try {
    for (const request of requests) {
      current = request;
      const result = await applyOne(store, request, context);
      if (!result) {
        await rollBack();
        return { ok: false, reason: request.reason, failed: request, onFailure: request.onFailure };
      }
      undos.push(result.undo);
      applied.push(result.applied);
      keepLedgerUntil = Math.max(keepLedgerUntil, result.until);
    }
    if (undos.length > 0) await recordApplied(store, context.decisionId, context.api, undos, new Date(context.nowMs), new Date(keepLedgerUntil));
  } catch (error) {
    await rollBack();
    // An expiry that is no real time (a once obligation's expires_at of 1e300) is the
    // policy's error: nothing is written, and the decision is a deny.
    if (error instanceof InvalidExpiryError && current) {
      return { ok: false, reason: reason("policy_error", `The policy asked for an obligation that cannot be kept: ${error.message}.`), failed: current, onFailure: { effect: "deny" } };
    }
    throw error;
  }
  return { ok: true, applied };
}

async function applyOne(
  store: StateStore,
  request: ObligationRequest,
  context: ApplyContext,
): Promise<{ applied: AppliedObligation; undo: Undo; until: number } | undefined> {
  if (request.type === "once") {
    const id = counterId(["once", ...request.key], "");
    const display = { key: displayKey(request.key), amount: 0, limit: 0, window: "" };
    const first = await consumeOnce(store, id, new Date(request.expiresAt * 1000), new Date(context.nowMs), context.decisionId);
    if (!first) return undefined;
    return { applied: { type: "once", ...display, total: 0 }, undo: { type: "once", id, display }, until: request.expiresAt * 1000 };
  }
  const amount = request.type === "rate" ? 1 : request.amount;
  const at = locate(request.key, request.window, context.nowMs);
  const result = await reserve(store, at, amount, request.limit, context.nowMs, context.decisionId);
  if (!result.ok) return undefined;
  const display = { key: at.key, amount, limit: request.limit, window: windowName(request.window) };
  const until = at.kind === "calendar" ? at.expiresAt.getTime() : context.nowMs + at.windowMs;
  return {
    applied: { type: request.type, ...display, total: result.total },
    undo: { type: request.type, window: at.kind, id: at.id, amount, display },
    until,
  };
}
