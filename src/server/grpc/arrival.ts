// A call's request has to arrive: grpc-js runs a unary handler once the request's
// message and its end (half-close) are in, and until then keeps the call, for as
// long as the client likes and with no bound on how many (a client without a
// deadline that opened 100,000 calls on one connection and sent none of them whole
// took a process from 89 to 584 MB, measured on Node 20). Here each call's request
// has request_timeout_ms from its headers to arrive, or the call ends
// DEADLINE_EXCEEDED; and a process lets at most MAX_ARRIVING calls arrive at once,
// ending one more at once RESOURCE_EXHAUSTED. A request arrives in the same few
// packets as its headers, so neither bound is reached by a working client.
import { performance } from "node:perf_hooks";
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
}

/** How often the calls still arriving are looked at for their time (a call may so run up to this past it). */
const SWEEP_MS = 1_000;

/**
 * The interceptor that holds every call's request to the bounds above. The calls
 * arriving are kept in insertion order (their arrival order) and looked at once a
 * second, rather than a timer each: a call's cost is a Map's set and delete. They are
 * stamped on the monotonic clock (performance.now()), not the wall clock, which a
 * clock step can move: stepped back, it had delayed the cut of every call behind the
 * first not yet late by the size of the step.
 */
export function arrivalBounds({ timeoutMs, cut, warnings }: ArrivalBounds): { interceptor: grpc.ServerInterceptor; stop(): void } {
  const arriving = new Map<grpc.ServerInterceptingCallInterface, number>();
  const timeoutDetails = `the request did not arrive whole within ${timeoutMs / 1_000} s of its headers; nothing was decided`;
  const overloadedDetails = "more requests are arriving than this process takes at once; nothing was decided; retry later";
  const sweep = setInterval(
    () => {
      const late = performance.now() - timeoutMs;
      for (const [call, since] of arriving) {
        if (since > late) break; // the rest came later
        arriving.delete(call);
        cut.inc({ reason: "request_timeout" });
        warnings.timeout.count();
        call.sendStatus({ code: ERRORS.request_timeout.grpc, details: timeoutDetails });
      }
    },
    Math.min(SWEEP_MS, timeoutMs),
  ).unref();
  const interceptor: grpc.ServerInterceptor = (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start(next) {
        if (arriving.size >= MAX_ARRIVING) {
          cut.inc({ reason: "overloaded" });
          warnings.overloaded.count();
          next({ onReceiveMetadata: () => call.sendStatus({ code: ERRORS.overloaded.grpc, details: overloadedDetails }) });
          return;
        }
        arriving.set(call, performance.now());
        next({
          onReceiveHalfClose(halfClose) {
            arriving.delete(call);
            halfClose();
          },
          onCancel: () => arriving.delete(call),
        });
      },
    });
  return { interceptor, stop: () => clearInterval(sweep) };
}
