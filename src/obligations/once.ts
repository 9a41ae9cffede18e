// once: consume `key` (e.g. a token's jti); a second use before `expires_at`, or
// within the largest clock skew after it, fails.
import { reason } from "@verdict/sdk/wire";
import { storageKey, type ObligationBase } from "../contract/index.js";
import { MAX_CLOCK_SKEW_SECONDS } from "../token/config.js";
import type { ObligationType } from "./type.js";

export interface OnceRequest extends ObligationBase {
  type: "once";
  /** Seconds since the epoch. */
  expiresAt: number;
}

/**
 * Until when a key is kept: `expires_at`, or now if that has passed, plus the largest
 * clock skew any Verdict accepts a token with (a token is accepted up to
 * `clock_skew_seconds` after its `exp`, so its jti must be remembered as long; kept
 * only until `exp`, a replay in that grace took the expired key over, as often as it
 * was sent). Longer only ever refuses more.
 */
function keptUntilMs(request: OnceRequest, nowMs: number): number {
  return Math.max(request.expiresAt * 1000, nowMs) + MAX_CLOCK_SKEW_SECONDS * 1000;
}

export const once: ObligationType<OnceRequest> = {
  type: "once",
  defaultReason: reason("token_replayed", "This single-use key was already used."),
  parse: (fields) => ({ expiresAt: fields.positiveNumber("expires_at") }),
  summary: (request) => ({ expires_at: request.expiresAt }),
  explain: (request) => `use ${request.key.join("/")} once, until ${request.expiresAt} (and ${MAX_CLOCK_SKEW_SECONDS} s of clock skew)`,
  async apply(request, ports, { nowMs, holder }) {
    const id = storageKey(["once", ...request.key, ""]);
    const shown = { type: "once", key: storageKey(request.key), amount: 0, limit: 0, window: "" };
    const holding = await ports.once.consume(id, new Date(keptUntilMs(request, nowMs)), new Date(nowMs), holder, shown);
    return holding ? { applied: { ...shown, total: 0 }, holding } : undefined;
  },
  async preview(request, ports, { nowMs, taken }) {
    const id = storageKey(["once", ...request.key, ""]);
    const claim = { id: `once ${id}`, amount: 1 };
    if (taken(claim.id) > 0 || (await ports.once.isConsumed(id, new Date(nowMs)))) return undefined;
    return { applied: { type: "once", key: storageKey(request.key), amount: 0, limit: 0, window: "", total: 0 }, claim };
  },
};
