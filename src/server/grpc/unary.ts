// Every RPC is one unary handler built here: authenticate the calling API,
// validate the request into typed input, run it, encode the answer, and map any
// failure through the error table (src/errors) to a gRPC status. The handlers of
// the services only say what their method validates, runs and encodes.
import * as grpc from "@grpc/grpc-js";
import { RETRY_PUSHBACK_METADATA } from "@verdict/sdk/wire";
import type { Caller } from "../../decide/index.js";
import { ERRORS, mappingOf, VerdictError, type ErrorCode } from "../../errors/index.js";
import { CountedWarning, type Instruments, type Logger, type ServerSpan, type TraceContext } from "../../observability/index.js";
import type { CallerRegistry } from "../callers.js";

export interface RpcContext {
  callers: CallerRegistry;
  log: Logger;
  /** Call counts and latencies, and the server span of each call when tracing. */
  instruments: Instruments;
}

/** What the unary helper knows of the call beyond its request. */
export interface CallInfo {
  /** The call's span, for the stages that run under it (when tracing). */
  trace?: TraceContext;
}

export interface UnaryMethod<Request, Input, Output, Response> {
  /** As logs and metrics name it, e.g. "Check" or "AuditService/Query". */
  name: string;
  /** The full method, e.g. "verdict.v1.PolicyDecisionService/Check": the name of its span. */
  rpc: string;
  /** Observed in verdict_check_duration_seconds (Check and CheckBatch). */
  timed?: boolean;
  /** The request as typed input; throws a VerdictError (invalid_argument, permission_denied, ...) to refuse it. */
  validate(request: Request, caller: Caller, call: CallFacts): Input;
  run(input: Input, caller: Caller, call: CallInfo): Promise<Output>;
  encode(output: Output, input: Input): Response;
  /** What the caller is told for these codes instead of the error's own message (internal errors never say more). */
  answers?: Partial<Record<ErrorCode, string>>;
  /** Fields for the log line of a failure, e.g. the request id. */
  logFields?(input: Input): Record<string, unknown>;
  /** Added to the answer for a request whose bytes did not decode, e.g. how deep its Structs may nest. */
  undecodable?: string;
}

/**
 * What a service definition's deserializer hands the handler in place of a request
 * whose bytes did not decode (the generated decoder refuses messages nested deeper
 * than its recursion limit, e.g. a deep Struct): grpc-js would answer INTERNAL, but
 * it is the caller's mistake, answered INVALID_ARGUMENT by the handler.
 */
const UNDECODABLE = Symbol("undecodable");

interface Undecodable {
  [UNDECODABLE]: string;
}

function undecodable(request: unknown): string | undefined {
  return typeof request === "object" && request !== null && UNDECODABLE in request ? (request as Undecodable)[UNDECODABLE] : undefined;
}

/** The service definition with each method's request deserializer made total (see UNDECODABLE). */
export function decodingRefusedAsInvalidArgument<S extends grpc.ServiceDefinition>(service: S): S {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer): unknown => {
          try {
            return method.requestDeserialize(bytes);
          } catch (error) {
            return { [UNDECODABLE]: error instanceof Error ? error.message : String(error) } satisfies Undecodable;
          }
        },
      },
    ]),
  ) as S;
}

const INTERNAL_ANSWER = "internal error";

/** What the call says beside its request. */
export interface CallFacts {
  /** When the caller stops waiting, ms since the epoch, a little early so the answer gets there in time; undefined without a deadline. */
  answerBy: number | undefined;
}

/** Answers this much before the caller's deadline, so that a refusal arrives before the caller gives up. */
const DEADLINE_MARGIN_MS = 10;

function callFacts(call: grpc.ServerUnaryCall<unknown, unknown>): CallFacts {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return { answerBy: Number.isFinite(at) ? at - DEADLINE_MARGIN_MS : undefined };
}

/** The first value of a metadata key as text (traceparent, tracestate). */
function header(metadata: grpc.Metadata): (key: string) => string | undefined {
  return (key) => {
    const [value] = metadata.get(key);
    return typeof value === "string" ? value : undefined;
  };
}

export function unary<Request, Input, Output, Response>(
  { callers, log, instruments }: RpcContext,
  method: UnaryMethod<Request, Input, Output, Response>,
): grpc.handleUnaryCall<Request, Response> {
  const { metrics, tracing } = instruments;
  // Who was refused and why, never the key: the first at once, then one line per 10 s (an unauthenticated flood costs no line each).
  const refusedCallers = new CountedWarning(log, "unauthenticated caller refused", { method: method.name });
  /** Answers the call, and counts, times and ends its span. */
  const answered = (callback: grpc.sendUnaryData<Response>, span: ServerSpan | undefined, stop: (() => void) | undefined) =>
    ((error, response) => {
      stop?.();
      const code = error?.code ?? grpc.status.OK;
      metrics.rpcs.inc({ method: method.name, code: grpc.status[code] ?? String(code) });
      span?.setAttributes({ "rpc.grpc.status_code": code });
      span?.end(code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN ? (error?.details ?? "internal error") : undefined);
      callback(error, response);
    }) as grpc.sendUnaryData<Response>;

  const fail = (callback: grpc.sendUnaryData<Response>, error: unknown, fields: Record<string, unknown>) => {
    const code: ErrorCode = error instanceof VerdictError ? error.code : "internal";
    const { grpc: status } = mappingOf(error);
    // An error that maps to INTERNAL is a bug (or a failure nobody can act on): logged, never described to the caller.
    const internal = status === ERRORS.internal.grpc;
    if (internal) log.error({ err: error, method: method.name, ...fields }, `${method.name} failed: ${method.answers?.internal ?? INTERNAL_ANSWER}`);
    const details = method.answers?.[code] ?? (!internal && error instanceof Error ? error.message : INTERNAL_ANSWER);
    callback({ code: status, details, ...pushback(error) });
  };

  return (call, done) => {
    const stop = method.timed ? metrics.checkDuration.startTimer({ method: method.name }) : undefined;
    const [service, name] = method.rpc.split("/");
    const span = tracing.startServerSpan(method.rpc, header(call.metadata), { "rpc.system": "grpc", "rpc.service": service, "rpc.method": name });
    const callback = answered(done, span, stop);
    const authentication = tracing.spanSync(
      span?.context,
      "authenticate",
      () => callers.authenticate({ metadata: call.metadata, peerCertificate: call.getAuthContext().sslPeerCertificate }),
      (result) => (result.ok ? { "verdict.api": result.caller.name } : { "verdict.refused": result.why }),
    );
    if (!authentication.ok) {
      refusedCallers.count({ peer: call.getPeer(), why: authentication.why });
      callback({ code: grpc.status.UNAUTHENTICATED, details: `caller not authenticated: ${authentication.why}` });
      return;
    }
    const caller = authentication.caller;
    let input: Input;
    try {
      const why = undecodable(call.request);
      if (why !== undefined)
        throw new VerdictError("invalid_argument", `the request could not be decoded (${why})${method.undecodable ? `; ${method.undecodable}` : ""}`);
      input = method.validate(call.request, caller, callFacts(call));
    } catch (error) {
      fail(callback, error, { caller: caller.name });
      return;
    }
    span?.setAttributes({ "verdict.api": caller.name });
    method
      .run(input, caller, span ? { trace: span.context } : {})
      .then((output) => method.encode(output, input))
      .then(
        (response) => callback(null, response),
        (error: unknown) => fail(callback, error, { caller: caller.name, ...method.logFields?.(input) }),
      );
  };
}

/** The trailer that says when to retry (gRFC A6's server pushback), for an error that can say (VerdictError.retryAfterMs). */
function pushback(error: unknown): { metadata?: grpc.Metadata } {
  if (!(error instanceof VerdictError) || error.retryAfterMs === undefined) return {};
  const metadata = new grpc.Metadata();
  metadata.set(RETRY_PUSHBACK_METADATA, String(Math.max(0, Math.round(error.retryAfterMs))));
  return { metadata };
}
