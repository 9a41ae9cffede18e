// rate: count this request in the window; at most `limit` per window.
import { reason } from "@verdict/sdk/wire";
import { windowLabel, type WindowSpec } from "../contract/index.js";
import { counterObligation, type CounterRequest } from "./counter.js";

export interface RateRequest extends CounterRequest {
  type: "rate";
  limit: number;
  window: WindowSpec;
}

export const rate = counterObligation<RateRequest>({
  type: "rate",
  defaultReason: reason("rate_limited"),
  parse: (fields) => ({ limit: fields.positiveInteger("limit"), window: fields.window("window") }),
  amount: () => 1,
  summary: (request) => ({ limit: request.limit, window: windowLabel(request.window) }),
  explain: (request) => `count this request against a limit of ${request.limit} per ${windowLabel(request.window)} on ${request.key.join("/")}`,
  retryable: true,
});
