// once: consume `key` (e.g. a token's jti); a second use before `expires_at` fails.
import { reason } from "@verdict/sdk/wire";
import { storageKey, type ObligationBase } from "../contract/index.js";
import { payloadString, type ObligationType } from "./type.js";

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
  async apply(request, ports, { nowMs, decisionId }) {
    const id = storageKey(["once", ...request.key, ""]);
    if (!(await ports.once.consume(id, new Date(request.expiresAt * 1000), new Date(nowMs), decisionId))) return undefined;
    return {
      applied: { type: "once", key: storageKey(request.key), amount: 0, limit: 0, window: "", total: 0 },
      undo: { id },
      until: request.expiresAt * 1000,
    };
  },
  async undo(payload, ports, decisionId) {
    await ports.once.release(payloadString(payload, "id"), decisionId);
  },
};
