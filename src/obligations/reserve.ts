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
  parse: (fields) => ({ amount: fields.positiveNumber("amount"), limit: fields.positiveNumber("limit"), window: fields.window("window") }),
  amount: (request) => request.amount,
  summary: (request) => ({ amount: request.amount, limit: request.limit, window: windowLabel(request.window) }),
  explain: (request) => `reserve ${request.amount} against a limit of ${request.limit} per ${windowLabel(request.window)} on ${request.key.join("/")}`,
});
