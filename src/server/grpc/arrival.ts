// A call's request has to arrive: grpc-js runs a unary handler once the request's
// message and its end (half-close) are in, and until then keeps the call, for as
// long as the client likes and with no bound on how many (a client without a
// deadline that opened 100,000 calls on one connection and sent none of them whole
// took a process from 89 to 584 MB, measured on Node 20). Here each call's request
// has request_timeout_ms from its headers to arrive, or the call ends
// DEADLINE_EXCEEDED; and a process lets at most MAX_ARRIVING calls arrive at once,
// ending one more at once RESOURCE_EXHAUSTED. A request arrives in the same few
// packets as its headers, so neither bound is reached by a working client.
import * as grpc from "@grpc/grpc-js";
import type { Counter } from "prom-client";
import { ERRORS } from "../../errors/index.js";
import type { CountedWarning } from "../../observability/index.js";

/** Calls of one process whose request has not arrived whole, at most (about 6 kB each while they wait). */
export const MAX_ARRIVING = 4_096;

/** What the calls ended here are counted in (by reason: request_timeout, overloaded). */
export const REQUESTS_CUT_METRIC = {
  name: "verdict_grpc_requests_cut_total",
  help: "gRPC calls ended before their request arrived whole: request_timeout (not within request_timeout_ms of its headers), overloaded (more than 4,096 were arriving in the process).",
  labelNames: ["reason"] as const,
};

export interface ArrivalBounds {
  timeoutMs: number;
  cut: Counter<"reason">;
  /** Logged at most every 10 s, with how many. */
  warnings: { timeout: CountedWarning; overloaded: CountedWarning };
  maxArriving?: number;
}

/** The interceptor that holds every call's request to the bounds above. */
export function arrivalBounds({ timeoutMs, cut, warnings, maxArriving = MAX_ARRIVING }: ArrivalBounds): grpc.ServerInterceptor {
  let arriving = 0;
  const timeoutDetails = `the request did not arrive whole within ${timeoutMs / 1_000} s of its headers; nothing was decided`;
  const overloadedDetails = "more requests are arriving than this process takes at once; nothing was decided; retry later";
  return (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start(next) {
        if (arriving >= maxArriving) {
          cut.inc({ reason: "overloaded" });
          warnings.overloaded.count();
          next({ onReceiveMetadata: () => call.sendStatus({ code: ERRORS.overloaded.grpc, details: overloadedDetails }) });
          return;
        }
        arriving += 1;
        let waiting = true;
        const arrived = () => {
          if (!waiting) return;
          waiting = false;
          arriving -= 1;
          clearTimeout(timer);
        };
        const timer = setTimeout(() => {
          if (!waiting) return;
          arrived();
          cut.inc({ reason: "request_timeout" });
          warnings.timeout.count();
          call.sendStatus({ code: ERRORS.request_timeout.grpc, details: timeoutDetails });
        }, timeoutMs).unref();
        next({
          onReceiveHalfClose(halfClose) {
            arrived();
            halfClose();
          },
          onCancel: arrived,
        });
      },
    });
}
