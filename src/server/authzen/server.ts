// The AuthZEN Authorization API 1.0 listener: its own HTTPS port, Fastify routes
// with JSON schemas at the edge, PEPs authenticated as registered APIs, and every
// decision made by the same Decider as gRPC Check (docs/authzen.md).
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { Counter, type Registry } from "prom-client";
import type { AuthzenConfig } from "./config.js";
import type { Decider } from "../../decide/index.js";
import { refusedConnections } from "../../cluster/index.js";
import { listenFailed, VerdictError } from "../../errors/index.js";
import { DirectoryUnavailableError, readDirectoryFile, type DirectoryStore } from "../../directory/index.js";
import { DuplicateMemberError, parseStrictJson } from "../../token/index.js";
import { CountedWarning, Tracing, type Logger, type ServerSpan } from "../../observability/index.js";
import type { CallerRegistry } from "../callers.js";
import type { EdgeLimits } from "../validate.js";
import { answerClientError, capConnections, requestTimeoutOptions } from "../bounds.js";
import { watchHttpAnswers } from "../http-answers.js";
import { readTlsFiles } from "../tls.js";
import { PepRegistry } from "./callers.js";
import { ensureDevCertificate } from "./dev-certificate.js";
import { AuthzenError, errorBody } from "./errors.js";
import { evaluateMany, evaluateOne } from "./evaluate.js";
import { tokenLeftBehind } from "./mapping.js";
import { baseUrlOf, ENDPOINTS, metadata, METADATA_PATH } from "./metadata.js";
import { actionSearchSchema, evaluationSchema, evaluationsSchema, resourceSearchSchema, subjectSearchSchema } from "./schemas.js";
import { search, type SearchDeps } from "./search.js";
import type { EdgeCall, EvaluationBody, EvaluationsBody, Pep, SearchBody } from "./types.js";

export interface AuthzenServerOptions {
  config: AuthzenConfig;
  decider: Decider;
  directory: DirectoryStore;
  /** The registered APIs (built with this listener's mutual TLS setting). */
  callers: CallerRegistry;
  maxBatchItems: number;
  /** max_context_bytes: each free-form object of a request (context, properties) as JSON, as for a Check. */
  limits: EdgeLimits;
  log: Logger;
  /** A server span per request, under the W3C traceparent the PEP sent, with the decision's stages under it (when tracing). */
  tracing?: Tracing;
  /** Where this listener's metrics go (connections refused for authzen.max_connections, and closed for their answers). */
  registry: Registry;
  /** The processes serving this listener together (each keeps its share of authzen.max_connections); 1 unless several. */
  processes?: number;
}

/** The connections this listener closed at once because authzen.max_connections were open (summed over a Verdict's processes). */
export const AUTHZEN_CONNECTIONS_REFUSED_METRIC = {
  name: "verdict_authzen_connections_refused_total",
  help: "AuthZEN connections closed as soon as they were accepted because authzen.max_connections were open.",
};

/** The connections this listener closed for piling up requests or leaving answers unread (src/server/http-answers.ts). */
export const AUTHZEN_CONNECTIONS_CLOSED_METRIC = {
  name: "verdict_authzen_connections_closed_total",
  help: "AuthZEN connections closed because their client had too many requests unanswered at once (pipelined) or did not read its answers (unread).",
  labelNames: ["reason"] as [string],
};

export interface RunningAuthzen {
  port: number;
  /** The base URL it serves at (the configured base_url, else from the listen address). */
  url: string;
  close(): Promise<void>;
}

declare module "fastify" {
  interface FastifyRequest {
    pep: Pep | null;
    verdictRequestId: string;
    verdictSpan: ServerSpan | null;
  }
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const DIRECTORY_RETRY_MS = 5_000;
const DIRECTORY_READY_WAIT_MS = 5_000;

export async function startAuthzenServer(options: AuthzenServerOptions): Promise<RunningAuthzen> {
  const { config, log } = options;
  const https = tlsOptions(options);
  warnAboutInsecureSettings(config, log);
  const background = startDirectory(options);
  // Decisions need the directory: wait a little for the first load, as start waits for the state indexes.
  if (!(await background.ready(DIRECTORY_READY_WAIT_MS)))
    log.warn("authzen is serving before its directory files are loaded; the load goes on in the background");
  const app = buildApp(options, https);
  // Node's cluster hands the processes this port's connections in turn: each keeps its share of the bound.
  const share = Math.ceil(config.max_connections / (options.processes ?? 1));
  capConnections(app.server, {
    maxConnections: share,
    refused: new Counter({ ...AUTHZEN_CONNECTIONS_REFUSED_METRIC, registers: [options.registry] }),
    warning: refusedConnections(log, share, "authzen.max_connections"),
  });
  const closed = new Counter({ ...AUTHZEN_CONNECTIONS_CLOSED_METRIC, registers: [options.registry] });
  watchHttpAnswers(app.server, { closed: (reason) => closed.inc({ reason }), log, listener: "authzen" });
  let port: number;
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
    port = (app.server.address() as AddressInfo).port;
  } catch (error) {
    background.stop();
    await app.close();
    throw listenFailed(config.listen.host, config.listen.port, error, "AuthZEN");
  }
  const host = config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host;
  const url = config.base_url ?? `${https ? "https" : "http"}://${host}:${port}`;
  log.info({ url, apis: config.apis.map((api) => api.name), tls: config.transport.kind }, "authzen is serving");
  return {
    port,
    url,
    async close() {
      background.stop();
      await app.close();
    },
  };

  function tlsOptions({ config: c }: AuthzenServerOptions) {
    if (c.transport.kind === "plaintext") return undefined;
    if (c.transport.kind === "dev_certificate") {
      const dev = ensureDevCertificate(c.transport.stateDir, c.listen.host);
      log.warn(
        { cert: dev.certFile, created: dev.created },
        "[DEV CERTIFICATE] authzen serves TLS with a self-signed development certificate; PEPs must trust this file",
      );
      return { cert: dev.cert, key: dev.key };
    }
    const { cert, key, ca } = readTlsFiles(c.transport.tls, "authzen.tls");
    // Mutual TLS: the handshake asks for a certificate but does not fail without a
    // valid one; the registry then refuses the caller with a JSON 401, not a TLS alert.
    return { cert, key, ...(ca ? { ca, requestCert: true, rejectUnauthorized: false } : {}) };
  }
}

function warnAboutInsecureSettings(config: AuthzenConfig, log: Logger): void {
  if (config.transport.kind === "plaintext")
    log.warn({ listen: config.listen }, "[INSECURE CONFIG] authzen serves plain HTTP: API keys, tokens and decisions travel in clear");
  if (config.dev_api_key !== undefined)
    log.warn("[INSECURE CONFIG] authzen.dev_api_key: an API key is written in clear in the configuration (development only)");
  for (const api of config.apis) {
    if (api.trust_asserted_subjects) {
      log.warn({ api: api.name }, "[INSECURE CONFIG] authzen trust_asserted_subjects: without a token, this API's word decides who the subject is");
    }
  }
}

/** Loads the configured directory files, retrying while the database is down (expired entries go in the database's one sweep). */
function startDirectory({ config, directory, log }: AuthzenServerOptions): { ready(waitMs: number): Promise<boolean>; stop(): void } {
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let loaded!: (ok: boolean) => void;
  const done = new Promise<boolean>((resolve) => (loaded = resolve));
  // A file that does not fit stops the start (DirectoryFileError), before anything is written.
  const files = config.directory.map((path) => ({ path, content: readDirectoryFile(path) }));
  const load = async () => {
    if (stopped) return;
    try {
      await directory.ensureIndexes();
      for (const file of files) {
        const counts = await directory.load(file.content);
        log.info({ file: file.path, ...counts }, "authzen directory loaded");
      }
      loaded(true);
    } catch (error) {
      if (stopped) return;
      log.warn({ err: (error as Error).message }, "authzen directory not loaded yet: the database is unavailable, retrying");
      retry = setTimeout(() => void load(), DIRECTORY_RETRY_MS).unref();
    }
  };
  void load();
  return {
    ready: (waitMs) => Promise.race([done, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), waitMs).unref())]),
    stop() {
      stopped = true;
      clearTimeout(retry);
    },
  };
}

/** The routes on a Fastify instance; `https` holds the TLS options (undefined: plain HTTP). */
export function buildApp(options: AuthzenServerOptions, https?: object): FastifyInstance {
  const { config, decider, directory, log } = options;
  const tracing = options.tracing ?? Tracing.off();
  const peps = new PepRegistry(options.callers, config.apis);
  // The first at once, then one line per 10 s: an unauthenticated flood costs no line (and no URL) each.
  const refusedPeps = new CountedWarning(log, "unauthenticated PEP refused");
  const searchDeps: SearchDeps = {
    decider,
    directory,
    pageSize: config.search.page_size,
    maxPageSize: config.search.max_page_size,
    maxCandidates: config.search.max_candidates,
    limits: options.limits,
  };
  const secure = https !== undefined;
  // A request has request_timeout_ms to arrive whole; Node's options go where Fastify creates its server.
  const timeouts = requestTimeoutOptions(config.request_timeout_ms);
  const app = Fastify({
    logger: false,
    bodyLimit: config.max_body_bytes,
    requestTimeout: config.request_timeout_ms,
    // Over TLS, the handshake has the same time (Node's default is 2 minutes), counted from the accept.
    ...(https ? { https: { ...https, ...timeouts, handshakeTimeout: config.request_timeout_ms } } : { http: timeouts }),
    // Refused by Node before Fastify saw a request (too slow, headers too large, not HTTP): in AuthZEN's error shape.
    clientErrorHandler: answerClientError,
    // The schemas decide what is valid: no coercion ("123" is not a number, 123 not a name), nothing removed or added.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
    // Refused by the router before any hook runs: answered in AuthZEN's error shape (not Fastify's, which echoes the path).
    frameworkErrors: (error, request, routerReply) => {
      const reply = routerReply as FastifyReply;
      const sent = request.headers["x-request-id"];
      if (typeof sent === "string" && REQUEST_ID.test(sent)) reply.header("x-request-id", sent);
      const refused = toAuthzenError(error);
      reply.code(refused.status).header("content-type", "application/json; charset=utf-8").send(errorBody(refused));
    },
  });
  app.decorateRequest("pep", null);
  app.decorateRequest("verdictRequestId", "");
  app.decorateRequest("verdictSpan", null);

  // JSON only, parsed strictly: a repeated member name is refused (I-JSON), and so is __proto__.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") return done(new AuthzenError("empty_body", "the request body is empty; send a JSON object"), undefined);
    try {
      done(null, parseStrictJson(text));
    } catch (error) {
      if (error instanceof DuplicateMemberError)
        return done(new AuthzenError("duplicate_member", `the body repeats the member name ${JSON.stringify(error.member)}`), undefined);
      done(new AuthzenError("malformed_json", "the request body is not valid JSON"), undefined);
    }
  });

  // X-Request-ID is echoed on every response, errors included; one is made up when the PEP sends none.
  app.addHook("onRequest", async (request, reply) => {
    const sent = request.headers["x-request-id"];
    const id = typeof sent === "string" ? sent : Array.isArray(sent) ? sent.join(", ") : randomUUID();
    reply.header("x-request-id", id);
    request.verdictRequestId = id;
    if (!REQUEST_ID.test(id)) throw new AuthzenError("invalid_request_id", "X-Request-ID must be 1-128 printable ASCII characters");
    if (request.is404 || request.routeOptions.config?.public === true) return;
    request.verdictSpan =
      tracing.startServerSpan(`${request.method} ${request.routeOptions.url ?? ""}`, headerOf(request), httpAttributes(request, secure)) ?? null;
    try {
      request.pep = tracing.spanSync(
        request.verdictSpan?.context,
        "authenticate",
        () => peps.authenticate(request.headers.authorization, request.raw.socket),
        (pep) => ({ "verdict.api": pep.caller.name }),
      );
      request.verdictSpan?.setAttributes({ "verdict.api": request.pep.caller.name });
    } catch (error) {
      if (error instanceof AuthzenError && error.code === "unauthenticated") {
        refusedPeps.count({ peer: request.ip, path: pathOf(request.url), why: error.message });
        reply.header("www-authenticate", 'Bearer realm="verdict-authzen"');
      }
      throw error;
    }
  });
  // The request's span ends with its answer: a 5xx marks it failed (the PEP got no answer it could use).
  app.addHook("onResponse", async (request, reply) => {
    const span = request.verdictSpan;
    if (!span) return;
    span.setAttributes({ "http.response.status_code": reply.statusCode });
    span.end(reply.statusCode >= 500 ? `HTTP ${reply.statusCode}` : undefined);
  });
  // A POST without a body (and so without a parser) reaches validation with nothing to validate.
  app.addHook("preValidation", (request, _reply, done) => {
    if (request.method === "POST" && request.body === undefined) done(new AuthzenError("empty_body", "the request body is empty; send a JSON object"));
    else done();
  });

  app.setErrorHandler((error: FastifyError | AuthzenError, request, reply) => {
    const mapped = toAuthzenError(error);
    if (mapped.code === "internal_error") log.error({ err: error, path: request.url, requestId: request.verdictRequestId }, "authzen request failed");
    if (mapped.code === "directory_unavailable") log.warn({ err: error.message, path: request.url }, "directory unavailable; no decision made");
    if (mapped.retryAfterMs !== undefined) reply.header("retry-after", String(Math.ceil(mapped.retryAfterMs / 1000)));
    reply.code(mapped.status).header("content-type", "application/json; charset=utf-8").send(errorBody(mapped));
  });
  app.setNotFoundHandler((request, reply) => {
    const known = request.url.split("?")[0];
    const isEndpoint = (Object.values(ENDPOINTS) as string[]).includes(known ?? "") || known === METADATA_PATH;
    const error = isEndpoint
      ? new AuthzenError("method_not_allowed", `${request.method} is not allowed here`)
      : new AuthzenError("not_found", `no AuthZEN endpoint at ${known}`);
    if (isEndpoint) reply.header("allow", known === METADATA_PATH ? "GET" : "POST");
    reply.code(error.status).send(errorBody(error));
  });

  const pepOf = (request: FastifyRequest): Pep => {
    if (!request.pep) throw new AuthzenError("unauthenticated", "caller not authenticated");
    return request.pep;
  };
  const deps = { decider, directory, limits: options.limits };
  const callOf = (request: FastifyRequest): EdgeCall => ({
    requestId: request.verdictRequestId,
    ...(request.verdictSpan ? { trace: request.verdictSpan.context } : {}),
  });

  app.post<{ Body: EvaluationBody }>(ENDPOINTS.access_evaluation_endpoint, { schema: { body: evaluationSchema } }, async (request) =>
    evaluateOne(deps, pepOf(request), request.body, callOf(request)),
  );

  const itemValidator = { current: undefined as ((value: unknown) => boolean) | undefined };
  app.post<{ Body: EvaluationsBody }>(
    ENDPOINTS.access_evaluations_endpoint,
    { schema: { body: evaluationsSchema(options.maxBatchItems) } },
    async (request) => {
      const pep = pepOf(request);
      const body = request.body;
      const validate = (itemValidator.current ??= request.compileValidationSchema(evaluationSchema));
      // Without evaluations (or with none) it is the single Access Evaluation.
      if (!body.evaluations || body.evaluations.length === 0) {
        if (!validate({ subject: body.subject, action: body.action, resource: body.resource, ...(body.context ? { context: body.context } : {}) })) {
          throw new AuthzenError("invalid_request", `without evaluations, subject, action and resource are required: ${describeErrors(validate)}`);
        }
        return evaluateOne(deps, pep, body as EvaluationBody, callOf(request));
      }
      // Each item: the top-level values as defaults, replaced whole by what the item names.
      const items = body.evaluations.map((raw, i) => {
        if (typeof raw !== "object" || raw === null || Array.isArray(raw))
          return { ok: false as const, error: new AuthzenError("invalid_request", `evaluations[${i}] must be an object`) };
        const item = raw as Partial<EvaluationBody>;
        const merged = {
          subject: item.subject ?? body.subject,
          action: item.action ?? body.action,
          resource: item.resource ?? body.resource,
          ...((item.context ?? body.context) !== undefined ? { context: item.context ?? body.context } : {}),
        };
        if (!validate(merged)) return { ok: false as const, error: new AuthzenError("invalid_request", `evaluations[${i}]: ${describeErrors(validate)}`) };
        const leftBehind = tokenLeftBehind(pep, body, merged as EvaluationBody, `evaluations[${i}]`);
        if (leftBehind) return { ok: false as const, error: leftBehind };
        return { ok: true as const, body: merged as EvaluationBody };
      });
      const evaluations = await evaluateMany(deps, pep, items, body.options?.evaluations_semantic ?? "execute_all", callOf(request));
      return { evaluations };
    },
  );

  for (const [kind, path, schema] of [
    ["subject", ENDPOINTS.search_subject_endpoint, subjectSearchSchema],
    ["resource", ENDPOINTS.search_resource_endpoint, resourceSearchSchema],
    ["action", ENDPOINTS.search_action_endpoint, actionSearchSchema],
  ] as const) {
    app.post<{ Body: SearchBody }>(path, { schema: { body: schema } }, async (request) =>
      search(searchDeps, pepOf(request), kind, request.body, callOf(request)),
    );
  }

  app.get(METADATA_PATH, { config: { public: true } }, async (request, reply) => {
    reply.header("cache-control", "public, max-age=300");
    return metadata(baseUrlOf(config.base_url, secure ? "https" : "http", request.headers.host));
  });
  return app;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** No PEP authentication (the metadata document). */
    public?: boolean;
  }
}

/** A request header as text for the trace propagator (traceparent, tracestate). */
function headerOf(request: FastifyRequest): (key: string) => string | undefined {
  return (key) => {
    const value = request.headers[key];
    return Array.isArray(value) ? value.join(",") : value;
  };
}

/** OpenTelemetry's HTTP server attributes of a request (never its headers or body: they carry tokens). */
function httpAttributes(request: FastifyRequest, secure: boolean): Record<string, string> {
  return { "http.request.method": request.method, "http.route": request.routeOptions.url ?? "", "url.scheme": secure ? "https" : "http" };
}

function describeErrors(validate: ((value: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null }): string {
  const first = validate.errors?.[0];
  return first ? `${first.instancePath.replace(/^\//, "").replaceAll("/", ".") || "the request"} ${first.message ?? "is invalid"}` : "invalid";
}

function toAuthzenError(error: FastifyError | AuthzenError | Error): AuthzenError {
  if (error instanceof AuthzenError) return error;
  if (error instanceof DirectoryUnavailableError)
    return new AuthzenError("directory_unavailable", "the directory could not be read in time; no decision was made");
  // Refused on arrival (the database's admission, the policy queue): not a failure of Verdict's, and said when to retry.
  if (error instanceof VerdictError && error.code === "overloaded")
    return new AuthzenError(
      "overloaded",
      "more decisions are waiting than can be taken in time; no decision was made and nothing was applied; retry later",
      error.retryAfterMs,
    );
  const fastify = error as FastifyError;
  if (fastify.validation) {
    const first = fastify.validation[0];
    const where = first ? first.instancePath.replace(/^\//, "").replaceAll("/", ".") || "the request" : "the request";
    return new AuthzenError("invalid_request", `${where} ${first?.message ?? "is invalid"}`);
  }
  switch (fastify.code) {
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new AuthzenError("invalid_content_type", "requests must be Content-Type: application/json");
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new AuthzenError("request_too_large", "the request body is larger than this PDP accepts");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new AuthzenError("empty_body", "the request body is empty; send a JSON object");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new AuthzenError("malformed_json", "the request body is not valid JSON");
    case "FST_ERR_BAD_URL":
      return new AuthzenError("invalid_request", "the request's path is not a valid URL (its percent-encoding is not UTF-8)");
    case "FST_ERR_MAX_PARAM_LENGTH":
      return new AuthzenError("invalid_request", "a part of the request's path is longer than this PDP accepts");
  }
  if (fastify.statusCode === 400) return new AuthzenError("invalid_request", fastify.message);
  return new AuthzenError("internal_error", "internal error");
}

/** A request's path for a log line: without its query, at most 256 characters (a URL may be 15 kB, and may carry a secret). */
function pathOf(url: string): string {
  return (url.split("?")[0] ?? "").slice(0, 256);
}
