// once: consume `key` (e.g. a token's jti); a second use before `expires_at` fails.
import { reason } from "@verdict/sdk/wire";
import { storageKey, type ObligationBase } from "../contract/index.js";
import type { ObligationType } from "./type.js";

export interface OnceRequest extends ObligationBase {
  type: "once";
  /** Seconds since the epoch. */
  expiresAt: number;
}

export const once: ObligationType<OnceRequest> = {
  type: "once",
  defaultReason: reason("token_replayed", "This single-use key was already used."),
  parse: (fields) => ({ expiresAt: fields.positiveNumber("expires_at") }),
  summary: (request) => ({ expires_at: request.expiresAt }),
  explain: (request) => `use ${request.key.join("/")} once, until ${request.expiresAt}`,
  async apply(request, ports, { nowMs, holder }) {
    const id = storageKey(["once", ...request.key, ""]);
    const shown = { type: "once", key: storageKey(request.key), amount: 0, limit: 0, window: "" };
    const holding = await ports.once.consume(id, new Date(request.expiresAt * 1000), new Date(nowMs), holder, shown);
    return holding ? { applied: { ...shown, total: 0 }, holding } : undefined;
  },
};
