// What reserve and rate share: each adds an amount to a windowed counter, only if
// its total stays within the limit; the counter holds it for the decision.
import type { JsonObject, Reason } from "@verdict/sdk/wire";
import { storageKey, windowLabel, type ObligationBase, type ObligationFields, type WindowSpec } from "../contract/index.js";
import type { ObligationType } from "./type.js";

/** A request that adds to a windowed counter. */
export interface CounterRequest extends ObligationBase {
  limit: number;
  window: WindowSpec;
}

interface CounterTypeSpec<R extends CounterRequest> {
  type: R["type"];
  defaultReason: Reason;
  parse(fields: ObligationFields): Omit<R, keyof ObligationBase>;
  /** How much one decision adds. */
  amount(request: R): number;
  summary(request: R): JsonObject;
  explain(request: R): string;
  /** Whether a refusal says when a retry would fit (rate: a client may wait for its window; a budget is the policy's limit, not a pace). */
  retryable?: boolean;
}

export function counterObligation<R extends CounterRequest>(spec: CounterTypeSpec<R>): ObligationType<R> {
  return {
    type: spec.type,
    defaultReason: spec.defaultReason,
    parse: (fields) => spec.parse(fields),
    summary: (request) => spec.summary(request),
    explain: (request) => spec.explain(request),
    async apply(request, { counters }, { nowMs, holder }) {
      const amount = spec.amount(request);
      const reserved = await counters.reserve(request.key, request.window, amount, request.limit, { nowMs, holder, type: request.type });
      if (!reserved.ok) return spec.retryable && reserved.fitsAtMs !== undefined ? { refused: true, retryAtMs: reserved.fitsAtMs } : undefined;
      return {
        applied: { type: request.type, key: storageKey(request.key), amount, limit: request.limit, window: windowLabel(request.window), total: reserved.total },
        holding: reserved.holding,
      };
    },
    async preview(request, { counters }, { nowMs, taken }) {
      const amount = spec.amount(request);
      const window = windowLabel(request.window);
      const [state] = await counters.read([[{ name: "total", type: "counter", key: request.key, window: request.window }]], nowMs);
      const claim = { id: `counter ${storageKey(request.key)} ${window}`, amount };
      const total = Number(state?.["total"] ?? 0) + taken(claim.id) + amount;
      if (total > request.limit) return undefined;
      return { applied: { type: request.type, key: storageKey(request.key), amount, limit: request.limit, window, total }, claim };
    },
  };
}
