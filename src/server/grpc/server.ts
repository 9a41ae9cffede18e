// The gRPC server: PolicyDecisionService, AuditService and AdminService (their handlers are
// one unary method each, unary.ts), the standard health service, message limits
// and graceful shutdown.
import type { Duplex } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { Counter } from "prom-client";
import {
  ADMIN_SERVICE,
  AdminServiceService,
  APPROVAL_SERVICE,
  ApprovalServiceService,
  AUDIT_SERVICE,
  AuditServiceService,
  POLICY_DECISION_SERVICE,
  PolicyDecisionServiceService,
} from "@verdict/sdk/wire";
import type { Approvals } from "../../approvals/index.js";
import { CONNECTIONS_REFUSED_METRIC } from "../../cluster/index.js";
import type { TlsConfig } from "../config.js";
import type { Decider } from "../../decide/index.js";
import { CountedWarning, type Instruments, type Logger } from "../../observability/index.js";
import type { Suspensions } from "../../suspensions/index.js";
import type { CallerRegistry } from "../callers.js";
import type { ReadinessSource } from "../readiness.js";
import { serverCredentials } from "../tls.js";
import type { EdgeLimits } from "../validate.js";
import { adminService } from "./admin-service.js";
import { approvalService } from "./approval-service.js";
import { ANSWER_WAIT_MS, MAX_UNREAD_ANSWERS, UNREAD_ANSWERS_METRIC, UnreadAnswers } from "./answers.js";
import { arrivalBounds, MAX_ARRIVING, REQUESTS_CUT_METRIC } from "./arrival.js";
import { auditService, type AuditServiceOptions } from "./audit-service.js";
import { decisionService } from "./decision-service.js";
import { HealthStatuses } from "./health.js";
import { injectorSessions, PREFACE_WAIT_MS, PrefaceWatch } from "./connections.js";
import { listenCapped } from "./listener.js";
import { decodingRefusedAsInvalidArgument } from "./unary.js";

const MAX_MESSAGE_BYTES = 256 * 1024;

export interface GrpcServerOptions {
  host: string;
  port: number;
  decider: Decider;
  callers: CallerRegistry;
  tls?: TlsConfig | undefined;
  maxBatchItems: number;
  /** Edge bounds of each item (max_context_bytes). */
  limits: EdgeLimits;
  log: Logger;
  audit: AuditServiceOptions;
  /** AdminService (Suspend, Resume, List) for the APIs granted it. */
  suspensions: Suspensions;
  /** ApprovalService (docs/approvals.md). */
  approvals: Approvals;
  instruments: Instruments;
  /** grpc.health.v1 says SERVING only while this says ready. */
  readiness: ReadinessSource;
  /** Connections are closed (GOAWAY) after about this long, so that clients re-resolve and rebalance. */
  maxConnectionAgeMs: number;
  /** Calls in flight on such a connection get this long to finish. */
  maxConnectionAgeGraceMs: number;
  /** Connections open at once (max_connections); one more is closed at once. The primary bounds those it hands over. */
  maxConnections: number;
  /** Calls in flight on one connection at most (max_concurrent_streams). */
  maxConcurrentStreams: number;
  /** A call's request (its message and end) arrives within this of its headers, or the call ends DEADLINE_EXCEEDED (request_timeout_ms). */
  requestTimeoutMs: number;
  /**
   * Connections come from the primary, which listens on `port` and hands each over
   * (cluster/balancer.ts): this server listens nowhere and serves what `inject` is given.
   */
  fromPrimary?: boolean;
}

export interface RunningGrpcServer {
  port: number;
  /** With fromPrimary: serves a connection the primary accepted; false once shutting down (the caller closes it). */
  inject?: (connection: Duplex) => boolean;
  /** Stops taking calls, lets those in flight finish (up to graceMs), then closes. */
  shutdown(graceMs?: number): Promise<void>;
}

/** grpc-js reports through its own logger; send that into ours, errors only. */
export function routeGrpcLogs(log: Logger): void {
  const line =
    (level: "error" | "warn") =>
    (...args: unknown[]) =>
      log[level]({ component: "grpc-js" }, args.map(String).join(" "));
  grpc.setLogger({ error: line("error"), warn: line("warn"), info: () => {}, debug: () => {} });
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
}

/** host:port, an IPv6 host in brackets (the configuration keeps hosts without them). */
export function formatAddress(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { host, port, decider, callers, tls, maxBatchItems, limits, log, audit, suspensions, instruments, readiness } = options;
  routeGrpcLogs(log);
  const arrival = arrivalBounds({
    timeoutMs: options.requestTimeoutMs,
    cut: new Counter({ ...REQUESTS_CUT_METRIC, registers: [instruments.metrics.registry] }),
    warnings: {
      timeout: new CountedWarning(log, `ended a call whose request did not arrive whole within ${options.requestTimeoutMs / 1_000} s (request_timeout_ms)`),
      overloaded: new CountedWarning(log, `ended a call at once: ${MAX_ARRIVING} requests were arriving in this process`),
    },
  });
  const server = new grpc.Server({
    // grpc-js adds up to 10% of jitter, so replicas' clients do not all reconnect at once.
    "grpc.max_connection_age_ms": options.maxConnectionAgeMs,
    "grpc.max_connection_age_grace_ms": options.maxConnectionAgeGraceMs,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
    // Streams beyond it are refused by HTTP/2 itself (REFUSED_STREAM), before grpc-js makes a call of them; clients queue theirs.
    "grpc.max_concurrent_streams": options.maxConcurrentStreams,
    interceptors: [arrival.interceptor],
  });
  const services = ["", POLICY_DECISION_SERVICE, AUDIT_SERVICE, ADMIN_SERVICE, APPROVAL_SERVICE];
  // Health follows readiness (GET /readyz): NOT_SERVING until ready, and from the start of shutdown.
  const health = new HealthStatuses(services, "NOT_SERVING");
  let stopping = false;
  const unwatch = readiness.watch((ready) => {
    if (!stopping) health.setAll(ready ? "SERVING" : "NOT_SERVING");
  });
  const context = { callers, log, instruments };
  server.addService(decodingRefusedAsInvalidArgument(PolicyDecisionServiceService), decisionService(context, decider, maxBatchItems, limits));
  server.addService(decodingRefusedAsInvalidArgument(AuditServiceService), auditService(context, audit));
  server.addService(decodingRefusedAsInvalidArgument(AdminServiceService), adminService(context, suspensions));
  server.addService(decodingRefusedAsInvalidArgument(ApprovalServiceService), approvalService(context, options.approvals));
  health.addTo(server);

  // Every connection is handed in: by the primary (fromPrimary), or by this process's
  // own listener (listener.ts), each bounding how many are open. The connections handed
  // in and still open: grpc-js's tryShutdown does not wait for them on Node 24 (its
  // Http2Server.close() closes the sessions itself, and a server that never listened
  // reports closed at once), so shutdown waits for them here.
  const injected = new Set<Duplex>();
  let lastInjectedClosed: () => void = () => undefined;
  const injector = server.createConnectionInjector(serverCredentials(tls));
  const sessions = injectorSessions(server, log);
  const preface = new PrefaceWatch(
    sessions,
    new CountedWarning(log, `reset a connection that sent no HTTP/2 preface and SETTINGS within ${PREFACE_WAIT_MS / 1000} s`),
  );
  const unreadAnswers = new UnreadAnswers(
    sessions,
    new Counter({ ...UNREAD_ANSWERS_METRIC, registers: [instruments.metrics.registry] }),
    new CountedWarning(
      log,
      `closed a connection whose client did not read its answers (one waited ${ANSWER_WAIT_MS / 1_000} s, or it held the most of more than ${MAX_UNREAD_ANSWERS} unread in this process)`,
    ),
  );
  const inject = (connection: Duplex): boolean => {
    if (stopping) return false;
    preface.watch(connection);
    injected.add(connection);
    connection.once("close", () => {
      injected.delete(connection);
      if (injected.size === 0) lastInjectedClosed();
    });
    injector.injectConnection(connection);
    return true;
  };
  const listener = options.fromPrimary
    ? undefined
    : await listenCapped({
        host,
        port,
        maxConnections: options.maxConnections,
        log,
        serve: (socket) => {
          if (!inject(socket)) socket.destroy();
        },
        refused: new Counter({ ...CONNECTIONS_REFUSED_METRIC, registers: [instruments.metrics.registry] }),
      }).catch((error: unknown) => {
        unwatch();
        arrival.stop();
        unreadAnswers.stop();
        throw error;
      });

  return {
    port: listener?.port ?? port,
    ...(options.fromPrimary ? { inject } : {}),
    shutdown: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        stopping = true;
        listener?.close();
        unwatch();
        health.setAll("NOT_SERVING");
        health.endWatches();
        const force = setTimeout(() => {
          server.forceShutdown();
          // and those that never became a session (no HTTP/2 preface yet)
          for (const connection of injected) connection.destroy();
        }, graceMs);
        const injectedClosed = new Promise<void>((closed) => {
          lastInjectedClosed = closed;
          if (injected.size === 0) closed();
        });
        server.tryShutdown(() => {
          void injectedClosed.then(() => {
            clearTimeout(force);
            arrival.stop();
            unreadAnswers.stop();
            resolve();
          });
        });
      }),
  };
}
