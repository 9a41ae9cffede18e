// The console on the admin listener: its pages at /console/ and its JSON API at
// /console/api/, in one encapsulated plugin (its headers, hooks and error handler
// stay its own). Every API route names the console scope it needs; reads go through
// the audit store's indexed, limited queries only (docs/console.md).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  AuditQueryError,
  isEventRecord,
  parseAuditQuery,
  publicRecord,
  type AuditQuery,
  type AuditQueryRequest,
  type AuditRecord,
  type TrailRecord,
} from "../../../audit/index.js";
import { ERRORS, VerdictError } from "../../../errors/index.js";
import type { Logger } from "../../../observability/index.js";
import { DEFAULT_EDGE_LIMITS, type EdgeLimits } from "../../validate.js";
import type { AdminRoutes } from "../server.js";
import { CONSOLE_SCOPES, type ConsoleConfig, type ConsoleScope } from "./config.js";
import { checkPlaygroundBounds, playgroundBody, runPlayground, type PlaygroundRequest } from "./playground.js";
import type { ConsoleParts, DevSignIn, Operator } from "./ports.js";
import { authenticate, checkLoopbackHost, checkSameOrigin, ConsoleRefusal, securityHeaders } from "./security.js";
import { loadConsoleFiles, type StaticFile } from "./static.js";
import { LiveSamples, liveSampleLag, LIVE_FULL_READ_MS, LIVE_SAMPLES } from "./live-sample.js";
import { agentSummaries, counterUse, decisionStats, SAMPLE_LIMIT, statsWindow, SUMMARY_FIELDS } from "./summaries.js";

export interface ConsoleOptions {
  config: ConsoleConfig;
  /** Filled in as Verdict starts. */
  parts: ConsoleParts;
  log: Logger;
  /** Development profile only: with it, every console route answers only a request whose Host is a loopback name or address. */
  devSignIn?: DevSignIn;
  /** The Check edge's bounds (max_context_bytes), which the playground holds its input to (default: the edge's defaults). */
  limits?: EdgeLimits;
  /** The built pages (default: dist/console); tests may pass their own. */
  files?: Map<string, StaticFile> | undefined;
  /** audit.flush_interval_ms: how late the writer may write a record, for the live summaries' lag (default 200). */
  auditFlushIntervalMs?: number;
}

/** A page of the decision list: the console reads at most this many records per request. */
export const CONSOLE_PAGE_LIMIT = 200;
const RECENT_DECISIONS = 20;
/** The newest allowed decisions an agent's counter use is read from. */
const USAGE_SAMPLE = 500;

const filterProperties = {
  subject: { type: "string" },
  agent: { type: "string" },
  action: { type: "string" },
  decision: { type: "string" },
  reason: { type: "string" },
  api: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
} as const;
const decisionsQuery = {
  type: "object",
  additionalProperties: false,
  properties: { ...filterProperties, limit: { type: "string", pattern: "^[0-9]{1,4}$" }, page_token: { type: "string" } },
} as const;
const statsQuery = { type: "object", additionalProperties: false, properties: filterProperties } as const;
const reasonBody = {
  type: "object",
  required: ["reason"],
  additionalProperties: false,
  properties: { reason: { type: "string", minLength: 1, maxLength: 512 } },
} as const;
const idParam = (name: string) =>
  ({
    type: "object",
    required: [name],
    properties: { [name]: { type: "string", minLength: 1, maxLength: 512, pattern: "^[^\\u0000-\\u001f\\u007f]+$" } },
  }) as const;

type Filters = Partial<Record<keyof typeof filterProperties, string>>;

function toAuditRequest(filters: Filters): AuditQueryRequest {
  const request: AuditQueryRequest = {};
  if (filters.subject) request.subject = filters.subject;
  if (filters.agent) request.clientId = filters.agent;
  if (filters.action) request.action = filters.action;
  if (filters.decision) request.decision = filters.decision;
  if (filters.reason) request.reason = filters.reason;
  if (filters.api) request.api = filters.api;
  if (filters.since) request.since = filters.since;
  if (filters.until) request.until = filters.until;
  return request;
}

/** Console API requests answered at once; more are refused (503 busy) rather than queued in Verdict's process. */
export const CONSOLE_MAX_IN_FLIGHT = 4;

/** How long a summary (charts, agents) is reused: live pages poll every 5 s, and any number of them cost one read. */
export const SUMMARY_TTL_MS = 5_000;

/** The first page of a list is reused as long: every live page with the same filters costs one read. */
export const LIST_TTL_MS = 2_000;

/**
 * Summaries by their query, each computed at most once per SUMMARY_TTL_MS however
 * many operators ask (one read in flight per query): a summary reads up to 5,000 records
 * in Verdict's own process, and decisions must not queue behind many of them.
 */
function summaryMemo(ttlMs: number) {
  const entries = new Map<string, { at: number; value: Promise<unknown> }>();
  return <T>(key: string, now: number, compute: () => Promise<T>): Promise<T> => {
    const entry = entries.get(key);
    if (entry && now - entry.at < ttlMs) return entry.value as Promise<T>;
    if (entries.size >= 256) entries.clear();
    const value = compute();
    entries.set(key, { at: now, value });
    value.catch(() => entries.delete(key)); // a failure is not kept
    return value;
  };
}

export function consoleRoutes(options: ConsoleOptions): AdminRoutes {
  const { config, parts, log, devSignIn, limits = DEFAULT_EDGE_LIMITS } = options;
  const files = "files" in options ? options.files : loadConsoleFiles();
  const summary = summaryMemo(SUMMARY_TTL_MS);
  const firstPages = summaryMemo(LIST_TTL_MS);
  // Live summaries (windows ending now) keep their sample and read only what is new at each refresh.
  const live = new LiveSamples({ lagMs: liveSampleLag(options.auditFlushIntervalMs ?? 200), fullEveryMs: LIVE_FULL_READ_MS, maxEntries: LIVE_SAMPLES });
  return (app: FastifyInstance) => {
    app.addHook("onRequest", async (_request, reply) => {
      securityHeaders(reply);
    });
    // The development sign-in gives a token to anyone who reaches it: only a page this machine opened on a loopback
    // name may, not one whose own name was rebound to 127.0.0.1 (DNS rebinding), which would pass the Origin check.
    if (devSignIn) {
      app.addHook("onRequest", async (request, _reply) => {
        checkLoopbackHost(request);
      });
    }
    // The API's requests in flight are bounded: a flood of console requests gets 503s, not Verdict's CPU.
    let inFlight = 0;
    app.addHook("onRequest", async (request, reply) => {
      // By the route the router matched, not the path as sent: the router decodes it (/console/%61pi/… is the API too).
      if (!request.routeOptions.url?.startsWith("/console/api/")) return;
      if (inFlight >= CONSOLE_MAX_IN_FLIGHT) {
        return reply.code(503).header("retry-after", "1").send({ error: "busy", message: "the console is answering other requests; try again in a moment" });
      }
      inFlight += 1;
      let done = false;
      const release = () => {
        if (!done) inFlight -= 1;
        done = true;
      };
      reply.raw.once("close", release);
      reply.raw.once("finish", release);
    });
    app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
      if (error instanceof ConsoleRefusal) {
        if (error.statusCode === 401) reply.header("www-authenticate", `Bearer error="invalid_token"`);
        return reply.code(error.statusCode).send({ error: error.error, message: error.message, ...(error.reason ? { reason: error.reason } : {}) });
      }
      if (error instanceof VerdictError) {
        const status = ERRORS[error.code].http;
        if (status >= 500) log.error({ err: error, path: request.url.split("?")[0] }, "console request failed");
        return reply.code(status).send({ error: error.code, message: status >= 500 ? "the request could not be answered; see Verdict's log" : error.message });
      }
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
        return reply.code(error.statusCode).send({ error: "invalid_request", message: error.message });
      }
      log.error({ err: error, path: request.url.split("?")[0] }, "console request failed");
      return reply.code(500).send({ error: "internal_error", message: "internal error" });
    });

    // --- the pages ---------------------------------------------------------------
    app.get("/console", async (_request, reply) => reply.redirect("/console/", 302));
    app.get<{ Params: { "*": string } }>("/console/*", async (request, reply) => {
      if (!files) {
        return reply.code(503).type("text/plain; charset=utf-8").send("The console is not built: run npm run build.\n");
      }
      const file = files.get(request.params["*"]);
      if (!file) return reply.code(404).type("text/plain; charset=utf-8").send("Not found.\n");
      return reply
        .type(file.type)
        .header("cache-control", file.immutable ? "public, max-age=31536000, immutable" : "no-store")
        .send(file.body);
    });

    // --- the API -----------------------------------------------------------------
    const need = <T>(part: T | undefined, what: string): T => {
      if (part === undefined) throw new ConsoleRefusal(503, "not_ready", `${what} is not ready yet; try again in a moment`);
      return part;
    };
    // Each API route signs its operator in from its headers alone, before its query string or body is read or
    // checked: a caller without a valid token learns nothing of what the route takes (as AuthZEN's PEPs).
    const operators = new WeakMap<FastifyRequest, Operator>();
    const signedIn = (scope: ConsoleScope | "any") => ({
      onRequest: async (request: FastifyRequest) => {
        if (request.method !== "GET" && request.method !== "HEAD") checkSameOrigin(request);
        operators.set(request, await authenticate(request, need(parts.verifier, "token verification"), config.audience, scope));
      },
    });
    const operator = (request: FastifyRequest): Operator => {
      const who = operators.get(request);
      if (!who) throw new VerdictError("internal", "a console API route without its sign-in");
      return who;
    };
    const apiReply = (reply: FastifyReply) => reply.header("cache-control", "no-store");
    const notAvailable = (reply: FastifyReply, what: string) =>
      reply.code(501).send({ error: "not_available", message: `${what} is not part of this Verdict yet` });

    app.get("/console/api/session", signedIn("any"), async (request, reply) => {
      const who = operator(request);
      apiReply(reply);
      return {
        operator: {
          subject: who.subject,
          client_id: who.clientId,
          issuer: who.issuer,
          ...(who.acr !== undefined ? { acr: who.acr } : {}),
          ...(who.authTime !== undefined ? { auth_time: who.authTime } : {}),
          scopes: who.scopes,
        },
        features: {
          audit: parts.audit !== undefined,
          shadow: parts.policies?.shadow() !== undefined,
          suspensions: parts.suspensions !== undefined,
          approvals: parts.approvals !== undefined,
        },
      };
    });

    // Open to anyone who can reach the listener, hence development only (a loopback listener and Host, a development issuer).
    if (devSignIn) {
      app.post("/console/api/dev-sign-in", async (request, reply) => {
        checkSameOrigin(request);
        const { token, expiresIn } = await devSignIn();
        apiReply(reply);
        return { access_token: token, token_type: "Bearer", expires_in: expiresIn };
      });
    }
    app.get("/console/api/config", async (_request, reply) => {
      apiReply(reply);
      return { dev_sign_in: devSignIn !== undefined, audience: config.audience, scopes: Object.values(CONSOLE_SCOPES) };
    });

    app.get<{ Querystring: Filters & { limit?: string; page_token?: string } }>(
      "/console/api/decisions",
      { ...signedIn(CONSOLE_SCOPES.read), schema: { querystring: decisionsQuery } },
      async (request, reply) => {
        const audit = need(parts.audit, "the audit trail");
        const limit = request.query.limit === undefined ? 50 : Number(request.query.limit);
        if (limit > CONSOLE_PAGE_LIMIT) throw new AuditQueryError(`limit must be at most ${CONSOLE_PAGE_LIMIT}`);
        const now = Date.now();
        const query = parseAuditQuery(
          { ...toAuditRequest(request.query), kind: "decision", limit, ...(request.query.page_token ? { pageToken: request.query.page_token } : {}) },
          now,
        );
        const read = async () => {
          const { records, nextPageToken } = await audit.query(query, now);
          return { decisions: decisionsOf(records), ...(nextPageToken ? { next_page_token: nextPageToken } : {}) };
        };
        // Later pages are read as asked; the first page (what live pages refresh) is shared.
        const page = request.query.page_token ? await read() : await firstPages(`list ${JSON.stringify(request.query)}`, now, read);
        apiReply(reply);
        return page;
      },
    );

    app.get<{ Params: { id: string } }>(
      "/console/api/decisions/:id",
      { ...signedIn(CONSOLE_SCOPES.read), schema: { params: idParam("id") } },
      async (request, reply) => {
        const record = await need(parts.audit, "the audit trail").byId(request.params.id, Date.now());
        apiReply(reply);
        if (!record) return reply.code(404).send({ error: "not_found", message: `no decision ${request.params.id} in the trail` });
        return { decision: publicRecord(record) };
      },
    );

    app.get<{ Querystring: Filters }>(
      "/console/api/stats",
      { ...signedIn(CONSOLE_SCOPES.read), schema: { querystring: statsQuery } },
      async (request, reply) => {
        const audit = need(parts.audit, "the audit trail");
        const now = Date.now();
        const filters = toAuditRequest(request.query);
        const query: AuditQuery = { ...parseAuditQuery({ since: "24h", ...filters }, now), limit: SAMPLE_LIMIT };
        const { from, to } = statsWindow(query, now);
        const key = `stats ${JSON.stringify(filters)}`;
        const stats = await summary(key, now, async () => decisionStats(await live.read(audit, key, query, now, SUMMARY_FIELDS), from, to));
        apiReply(reply);
        return stats;
      },
    );

    app.get<{ Querystring: { since?: string } }>(
      "/console/api/agents",
      { ...signedIn(CONSOLE_SCOPES.read), schema: { querystring: { type: "object", additionalProperties: false, properties: { since: { type: "string" } } } } },
      async (request, reply) => {
        const audit = need(parts.audit, "the audit trail");
        const now = Date.now();
        const since = request.query.since ?? "7d";
        const query: AuditQuery = { ...parseAuditQuery({ since }, now), limit: SAMPLE_LIMIT };
        const key = `agents ${since}`;
        const seen = await summary(key, now, async () => {
          const sample = await live.read(audit, key, query, now, SUMMARY_FIELDS);
          return { agents: agentSummaries(sample), sampled: sample.length, truncated: sample.length >= SAMPLE_LIMIT };
        });
        // Suspensions are read fresh: after suspending, the list shows it at once.
        const suspended = parts.suspensions ? await parts.suspensions.list(1_000) : undefined;
        apiReply(reply);
        return { ...seen, ...(suspended ? { suspensions: suspended } : {}) };
      },
    );

    app.get<{ Params: { client_id: string } }>(
      "/console/api/agents/:client_id",
      { ...signedIn(CONSOLE_SCOPES.read), schema: { params: idParam("client_id") } },
      async (request, reply) => {
        const audit = need(parts.audit, "the audit trail");
        const now = Date.now();
        const clientId = request.params.client_id;
        // Both on the client_id index: the newest decisions, and a bounded sample for its users.
        const recent = await audit.query(parseAuditQuery({ clientId, kind: "decision", limit: RECENT_DECISIONS }, now), now);
        const sample = await audit.sample({ ...parseAuditQuery({ clientId }, now), limit: SAMPLE_LIMIT }, now, SUMMARY_FIELDS);
        // Its counters as its newest ALLOW decisions left them (only allowed decisions enforce obligations).
        const enforced = await audit.sample({ ...parseAuditQuery({ clientId, decision: "ALLOW" }, now), limit: USAGE_SAMPLE }, now, ["time", "obligations"]);
        apiReply(reply);
        return { agent: agentSummaries(sample)[0] ?? null, recent: decisionsOf(recent.records), usage: counterUse(enforced) };
      },
    );

    app.post<{ Params: { client_id: string }; Body: { reason: string } }>(
      "/console/api/agents/:client_id/suspend",
      { ...signedIn(CONSOLE_SCOPES.suspend), schema: { params: idParam("client_id"), body: reasonBody } },
      async (request, reply) => {
        const who = operator(request);
        if (!parts.suspensions) return notAvailable(reply, "Suspending agents");
        const suspension = await parts.suspensions.suspendAgent(request.params.client_id, request.body.reason, who);
        apiReply(reply);
        return { suspension };
      },
    );

    app.post<{ Params: { client_id: string }; Body: { reason: string } }>(
      "/console/api/agents/:client_id/resume",
      { ...signedIn(CONSOLE_SCOPES.suspend), schema: { params: idParam("client_id"), body: reasonBody } },
      async (request, reply) => {
        const who = operator(request);
        if (!parts.suspensions) return notAvailable(reply, "Resuming agents");
        const resumed = await parts.suspensions.resumeAgent(request.params.client_id, request.body.reason, who);
        apiReply(reply);
        return { resumed };
      },
    );

    app.get<{ Querystring: { status?: "pending" | "decided" } }>(
      "/console/api/approvals",
      {
        ...signedIn(CONSOLE_SCOPES.read),
        schema: {
          querystring: { type: "object", additionalProperties: false, properties: { status: { type: "string", enum: ["pending", "decided"] } } },
        },
      },
      async (request, reply) => {
        if (!parts.approvals) return notAvailable(reply, "The approvals inbox");
        const approvals = await parts.approvals.list(request.query.status ?? "pending", CONSOLE_PAGE_LIMIT);
        apiReply(reply);
        return { approvals };
      },
    );

    app.post<{ Params: { id: string; outcome: "approve" | "refuse" }; Body: { approver_token: string; reason?: string } }>(
      "/console/api/approvals/:id/:outcome",
      {
        // The console scope lets an operator use the inbox; the approver's own token (their acr, its freshness) decides.
        ...signedIn(CONSOLE_SCOPES.approve),
        schema: {
          params: {
            type: "object",
            required: ["id", "outcome"],
            properties: { id: idParam("id").properties.id, outcome: { type: "string", enum: ["approve", "refuse"] } },
          },
          body: {
            type: "object",
            required: ["approver_token"],
            additionalProperties: false,
            properties: { approver_token: { type: "string", minLength: 1, maxLength: 16_384 }, reason: { type: "string", maxLength: 512 } },
          },
        },
      },
      async (request, reply) => {
        const who = operator(request);
        if (!parts.approvals) return notAvailable(reply, "Approving");
        const approval = await parts.approvals.decide(request.params.id, request.params.outcome, request.body.approver_token, who, request.body.reason);
        apiReply(reply);
        return { approval };
      },
    );

    app.post<{ Body: PlaygroundRequest }>(
      "/console/api/playground",
      { ...signedIn(CONSOLE_SCOPES.evaluate), schema: { body: playgroundBody } },
      async (request, reply) => {
        checkPlaygroundBounds(request.body, limits);
        const result = await runPlayground(need(parts.policies, "the policy bundle"), request.body, Date.now());
        apiReply(reply);
        return result;
      },
    );
  };
}

/** The decisions of a page read with kind "decision" (the trail also keeps events: docs/audit.md). */
function decisionsOf(records: readonly TrailRecord[]): AuditRecord[] {
  return records.flatMap((record) => (isEventRecord(record) ? [] : [publicRecord(record)]));
}
