// The admin HTTP listener (admin_listen): one Fastify instance whose routes come
// from plugins, each feature registering its own (health, metrics; later the
// console and its API, the Shared Signals receiver, approvals). It is apart from
// gRPC so that a probe or a scrape never queues behind decisions, and keeps to
// in-memory reads so that it never holds one up (docs/architecture.md).
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { refusedConnections } from "../../cluster/index.js";
import { listenFailed } from "../../errors/index.js";
import type { Logger } from "../../observability/index.js";
import { answerClientError, capConnections, requestTimeoutOptions } from "../bounds.js";
import { watchHttpAnswers, type HttpCloseReason } from "../http-answers.js";

/**
 * A feature's routes on the admin listener: adds them to the (encapsulated) Fastify
 * instance it is given, with their schemas and hooks; registered with the others at start.
 */
export type AdminRoutes = (app: FastifyInstance) => void | Promise<void>;

export interface AdminServerOptions {
  host: string;
  port: number;
  routes: readonly AdminRoutes[];
  log: Logger;
  /**
   * A port of its own even in a cluster worker (the primary serves admin_listen for all
   * of them). Such a private listener has one client, its primary, which forwards to it
   * from 127.0.0.1: it has no bound per address (the primary's listener holds each of
   * its own clients to one).
   */
  exclusive?: boolean;
}

/**
 * Which bound closed a connection as soon as it was accepted (the `reason` label of its
 * metric): `per_address`, MAX_CONNECTIONS_PER_ADDRESS open from its address; `total`,
 * MAX_CONNECTIONS open in all, none of them idle.
 */
export type AdminRefusalReason = "per_address" | "total";

export interface RunningAdmin {
  port: number;
  /** http://host:port */
  url: string;
  /** Connections closed as soon as they were accepted, by the bound that closed them (its metric: ADMIN_CONNECTIONS_REFUSED_METRIC, kept by whichever process serves admin_listen). */
  connectionsRefused(): Readonly<Record<AdminRefusalReason, number>>;
  /** Connections closed for piling up requests or leaving answers unread, by reason (its metric: ADMIN_CONNECTIONS_CLOSED_METRIC, kept as the one above). */
  connectionsClosed(): Readonly<Record<HttpCloseReason, number>>;
  close(): Promise<void>;
}

/**
 * Connections open at once. Probes, scrapes and a console behind its proxy need a few;
 * a client on the cluster network that opened them without end would otherwise take
 * the memory and file descriptors the process decides with. When they are all open,
 * the idle ones (kept alive between requests) are closed to let one more in; only when
 * none is idle is it closed as soon as it is accepted.
 */
const MAX_CONNECTIONS = 1_024;

/**
 * Connections open at once from one remote address; one more from it is closed as soon
 * as it is accepted. So that one client cannot hold MAX_CONNECTIONS and shut out the
 * kubelet's probes (each a new connection), which would restart every replica.
 */
const MAX_CONNECTIONS_PER_ADDRESS = 64;

/**
 * How long a connection is kept open idle after an answer (Fastify's default: 72 s).
 * Probes open a connection each time, a scrape every 15 s or more reconnects cheaply,
 * and an idle connection held is one another client cannot have.
 */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** A request to the admin listener has this long to arrive whole, headers and body (probes, scrapes and console forms are small). */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * The longest path parameter the router takes: an agent's client_id (the console's
 * /agents/:client_id routes) and the ids the routes check may be 512 characters, and an
 * agent chooses its own (a client-id metadata document's URL): at Fastify's default of
 * 100, an agent with a longer one was out of the console's reach, its suspension too.
 */
const MAX_PARAM_LENGTH = 512;

/** What the router refuses before any route runs, as this listener answers it. */
const ROUTER_REFUSALS: Readonly<Record<string, { status: number; message: string }>> = {
  FST_ERR_BAD_URL: { status: 400, message: "the path is not a valid URL (its percent-encoding is not UTF-8)" },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, message: `a part of the path is longer than ${MAX_PARAM_LENGTH} characters` },
};

/** The admin app with every feature's routes; exported for tests that inject requests. */
export async function buildAdminApp({ routes, log }: Pick<AdminServerOptions, "routes" | "log">): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    // Probes and scrapes send no bodies worth the name.
    bodyLimit: 64 * 1024,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    http: requestTimeoutOptions(REQUEST_TIMEOUT_MS),
    // Refused by Node before Fastify saw a request (too slow, headers too large, not HTTP): in this listener's error shape.
    clientErrorHandler: answerClientError,
    // validateSchema: false: the routes' own schemas are not checked against JSON Schema's
    // meta-schema at every start (compiling it was about 55 ms of each process's start);
    // Ajv's strict mode still refuses an unknown keyword when a route's schema compiles.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, validateSchema: false } },
    // While closing, probes get 503 at once rather than waiting.
    return503OnClosing: true,
    // Refused by the router before any route: answered in the admin listener's error shape (not Fastify's, which echoes the path).
    frameworkErrors: (error, request, routerReply) => {
      const reply = routerReply as FastifyReply;
      const refused = ROUTER_REFUSALS[error.code];
      if (!refused) {
        log.error({ err: error, path: request.url.split("?")[0] }, "admin request failed");
        return void reply.code(500).send({ error: "internal_error", message: "internal error" });
      }
      reply.code(refused.status).send({ error: "invalid_request", message: refused.message });
    },
  });
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) log.error({ err: error, path: request.url }, "admin request failed");
    reply.code(status).send({ error: status === 500 ? "internal_error" : "invalid_request", message: status === 500 ? "internal error" : error.message });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: "not_found", message: `no admin endpoint at ${request.url.split("?")[0] ?? ""}` });
  });
  // Each feature in its own encapsulated context: its hooks and decorators stay its own.
  for (const plugin of routes) {
    await app.register((scope, _options, done) => {
      Promise.resolve(plugin(scope)).then(() => done(), done);
    });
  }
  return app;
}

export async function startAdminServer(options: AdminServerOptions): Promise<RunningAdmin> {
  const app = await buildAdminApp(options);
  const { host, port, log } = options;
  const refused: Record<AdminRefusalReason, number> = { per_address: 0, total: 0 };
  capConnections(app.server, {
    maxConnections: MAX_CONNECTIONS,
    refused: { inc: () => (refused.total += 1) },
    warning: refusedConnections(log, MAX_CONNECTIONS, "the admin listener's connections"),
    ...(options.exclusive
      ? {}
      : {
          perAddress: {
            maxConnections: MAX_CONNECTIONS_PER_ADDRESS,
            refused: { inc: () => (refused.per_address += 1) },
            warning: refusedConnections(log, MAX_CONNECTIONS_PER_ADDRESS, "the admin listener's connections from one address"),
          },
        }),
    makeRoom: () => app.server.closeIdleConnections(),
  });
  const closed: Record<HttpCloseReason, number> = { pipelined: 0, unread: 0 };
  watchHttpAnswers(app.server, { closed: (reason) => (closed[reason] += 1), log, listener: "admin" });
  try {
    await app.listen({ host, port, ...(options.exclusive ? { exclusive: true } : {}) });
  } catch (error) {
    await app.close();
    throw listenFailed(host, port, error, "the admin listener");
  }
  const bound = (app.server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}`,
    connectionsRefused: () => refused,
    connectionsClosed: () => closed,
    close: () => app.close(),
  };
}
