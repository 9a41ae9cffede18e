// reserve: add `amount` to the windowed counter `key` only if its total stays within `limit`.
import { reason } from "@verdict/sdk/wire";
import { windowLabel, type WindowSpec } from "../contract/index.js";
import { counterObligation, type CounterRequest } from "./counter.js";

export interface ReserveRequest extends CounterRequest {
  type: "reserve";
  amount: number;
  limit: number;
  window: WindowSpec;
}

export const reserve = counterObligation<ReserveRequest>({
  type: "reserve",
  defaultReason: reason("limit_exceeded"),
  parse: (fields) => {
    const amount = fields.positiveNumber("amount");
    const limit = fields.positiveNumber("limit");
    // Whole amounts sum exactly up to 2^53; past it a total rounds, and the limit would let through more than it says.
    if (limit > Number.MAX_SAFE_INTEGER) fields.invalid("limit", `at most ${Number.MAX_SAFE_INTEGER} (2^53 - 1), where whole amounts still add up exactly`);
    // A fractional amount at the edge of the limit's floating-point precision (5e-14 against 1000) may never fill it:
    // a total of about the limit absorbs it, and any number of them fit. One relative epsilon of the limit is the
    // least. A whole amount under such a limit adds up exactly (1 against 2^53 - 1 too).
    if (!Number.isInteger(amount) && amount < limit * Number.EPSILON) {
      fields.invalid(
        "amount",
        `large enough to count against limit ${limit}, at least ${limit * Number.EPSILON} (whole minor units: cents, not fractions of them)`,
      );
    }
    return { amount, limit, window: fields.window("window") };
  },
  amount: (request) => request.amount,
  summary: (request) => ({ amount: request.amount, limit: request.limit, window: windowLabel(request.window) }),
  explain: (request) => `reserve ${request.amount} against a limit of ${request.limit} per ${windowLabel(request.window)} on ${request.key.join("/")}`,
});
