// gRPC wiring: the PolicyDecisionService, the standard health service, caller
// authentication, message limits and graceful shutdown.
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import {
  loadVerdictProto,
  type BatchResultMessage,
  type CheckBatchRequestMessage,
  type CheckBatchResponseMessage,
  type CheckRequestMessage,
  type CheckResponseMessage,
  type ReleaseRequestMessage,
  type ReleaseResponseMessage,
} from "@verdict/sdk/wire";
import type { Caller } from "../decide/index.js";
import { StateUnavailableError } from "../state/index.js";
import type { Decider } from "../decide/index.js";
import type { Logger } from "../observability/index.js";
import { AUDIT_SERVICE_NAME, type QueryHandler } from "./audit-service.js";
import { authenticateCall, type CallerRegistry } from "./callers.js";
import { encodeCheckResponse } from "./encode.js";
import { serverCredentials } from "./tls.js";
import type { TlsConfig } from "../config/index.js";
import { InvalidArgumentError, undecodableRequest, validateBatchRequest, validateCheckRequest, validateReleaseRequest } from "./validate.js";

export const SERVICE_NAME = "verdict.v1.PolicyDecisionService";
const MAX_MESSAGE_BYTES = 256 * 1024;

export interface GrpcServerOptions {
  host: string;
  port: number;
  decider: Decider;
  callers: CallerRegistry;
  tls?: TlsConfig | undefined;
  maxBatchItems: number;
  /** context and resource.attributes, each, at most this many bytes as JSON. */
  maxContextBytes: number;
  log: Logger;
  /** AuditService.Query (audit-service.ts). */
  auditQuery: QueryHandler;
}

export interface RunningGrpcServer {
  port: number;
  /** Stops taking calls, lets those in flight finish (up to graceMs), then closes. */
  shutdown(graceMs?: number): Promise<void>;
}

type Handler = grpc.handleUnaryCall<CheckRequestMessage, CheckResponseMessage>;

function describeBindError(error: Error): string {
  if (/EADDRINUSE/.test(error.message)) return "the address is already in use (is another Verdict running?)";
  if (/EACCES/.test(error.message)) return "permission denied";
  return error.message;
}

/** grpc-js reports through its own logger; send that into ours, errors only. */
export function routeGrpcLogs(log: Logger): void {
  grpc.setLogger({
    error: (...args: unknown[]) => log.error({ component: "grpc-js" }, args.map(String).join(" ")),
    warn: (...args: unknown[]) => log.warn({ component: "grpc-js" }, args.map(String).join(" ")),
    info: () => {},
    debug: () => {},
  } as unknown as Console);
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
}

/**
 * grpc-js answers a request that does not decode (a Struct nested too deep) with
 * INTERNAL; the handlers' validation answers it INVALID_ARGUMENT instead.
 */
function undecodableAsInvalidArgument(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer) => {
          try {
            return method.requestDeserialize(bytes);
          } catch (error) {
            return undecodableRequest(error);
          }
        },
      },
    ]),
  );
}

export async function startGrpcServer({ host, port, decider, callers, tls, maxBatchItems, maxContextBytes, log, auditQuery }: GrpcServerOptions): Promise<RunningGrpcServer> {
  routeGrpcLogs(log);
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
  });
  const health = new HealthImplementation({ "": "SERVING", [SERVICE_NAME]: "SERVING", [AUDIT_SERVICE_NAME]: "SERVING" });

  const authenticate = (call: grpc.ServerUnaryCall<unknown, unknown>, method: string, callback: grpc.sendUnaryData<never>): Caller | undefined =>
    authenticateCall(callers, call, method, log, callback);

  const release: grpc.handleUnaryCall<ReleaseRequestMessage, ReleaseResponseMessage> = (call, callback) => {
    const caller = authenticate(call, "Release", callback);
    if (!caller) return;
    let decisionId: string;
    try {
      decisionId = validateReleaseRequest(call.request);
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      callback({ code: grpc.status.INVALID_ARGUMENT, details: error.message });
      return;
    }
    decider.release(decisionId, caller).then(
      (result) => {
        log.info({ caller: caller.name, decisionId, status: result.status }, "release");
        callback(null, { status: result.status, released: result.released.map((o) => ({ ...o, total: 0 })) });
      },
      (error: unknown) => {
        if (error instanceof StateUnavailableError) {
          callback({ code: grpc.status.UNAVAILABLE, details: "state unavailable: nothing was released; retry" });
          return;
        }
        log.error({ err: error, caller: caller.name, decisionId }, "Release failed");
        callback({ code: grpc.status.INTERNAL, details: "internal error: the release may be incomplete; retry" });
      },
    );
  };

  const checkBatch: grpc.handleUnaryCall<CheckBatchRequestMessage, CheckBatchResponseMessage> = (call, callback) => {
    const caller = authenticate(call, "CheckBatch", callback);
    if (!caller) return;
    let input;
    try {
      input = { ...validateBatchRequest(call.request, maxBatchItems, { maxContextBytes }), caller };
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      callback({ code: grpc.status.INVALID_ARGUMENT, details: error.message });
      return;
    }
    decider.checkBatch(input).then(
      (results) =>
        callback(null, {
          results: results.map(
            (item): BatchResultMessage =>
              item.ok ? { response: encodeCheckResponse(item.result) } : { error: { code: item.error.code, message: item.error.message } },
          ),
        }),
      (error: unknown) => {
        log.error({ err: error, caller: caller.name, requestId: input.requestId }, "CheckBatch failed; no decision was made");
        callback({ code: grpc.status.INTERNAL, details: "internal error: no decision was made" });
      },
    );
  };

  const check: Handler = (call, callback) => {
    const caller = authenticate(call, "Check", callback);
    if (!caller) return;
    let input;
    try {
      input = { ...validateCheckRequest(call.request, { maxContextBytes }), caller };
    } catch (error) {
      if (error instanceof InvalidArgumentError) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: error.message });
        return;
      }
      throw error;
    }
    decider.check(input).then(
      (result) => callback(null, encodeCheckResponse(result, { explain: input.explain === true })),
      (error: unknown) => {
        log.error({ err: error, caller: caller.name, requestId: input.requestId }, "Check failed; no decision was made");
        callback({ code: grpc.status.INTERNAL, details: "internal error: no decision was made" });
      },
    );
  };

  const proto = loadVerdictProto();
  server.addService(undecodableAsInvalidArgument(proto.verdict.v1.PolicyDecisionService.service), { Check: check, CheckBatch: checkBatch, Release: release });
  server.addService(proto.verdict.v1.AuditService.service, { Query: auditQuery });
  health.addToServer(server);

  const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, serverCredentials(tls), (error, actual) =>
      error ? reject(new Error(`cannot listen on ${address}: ${describeBindError(error)}`)) : resolve(actual),
    ),
  );

  return {
    port: bound,
    shutdown: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        health.setStatus("", "NOT_SERVING");
        health.setStatus(SERVICE_NAME, "NOT_SERVING");
        health.setStatus(AUDIT_SERVICE_NAME, "NOT_SERVING");
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
