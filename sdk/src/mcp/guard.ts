// The MCP authorization guard. An MCP server on the Streamable HTTP transport is an
// OAuth resource server (MCP authorization specification): this is HTTP middleware
// for its endpoint. Every JSON-RPC message of the body (one message or a batch) is
// decided by Verdict, in one CheckBatch: a tools/call with the tool's action and its
// arguments as context, anything else (initialize, resources/read, a notification, a
// client's response, the GET stream, DELETE) with the session action and the method
// and its target as context. What the token cannot do is answered in HTTP, as the
// MCP and OAuth specifications require (401/403 with challenges carrying
// resource_metadata, RFC 9728 §5.1); a tool call the policy refuses is answered
// inside MCP, as a tool result with isError, so the model can read why; a step-up is
// a URL elicitation for clients that support it, else the RFC 9470 challenge.
import { randomUUID } from "node:crypto";
import type { ResourceRef, VerdictClient } from "../client.js";
import type { Allow, ApprovalRequiredChallenge, Decision, Deny, Principal, StepUp } from "../decision.js";
import { VerdictError } from "../errors.js";
import {
  isEncrypted,
  parsePublicBaseUrl,
  readCredentials,
  readRequestId,
  readTraceContext,
  requestUrl,
  toHttpAnswer,
  writeNodeAnswer,
  type ChallengeOptions,
  type GuardOptions,
  type HttpHeaders,
  type NextFunction,
  type NodeLikeResponse,
  type Outcome,
  type VerdictContext,
} from "../http/index.js";
import { wholeSecondsToRetry } from "../http/challenge.js";
import { answered } from "../http/express.js";
import type { JsonObject } from "../wire/index.js";
import { answerPreflight, checkOrigin, readBody, setCorsHeaders, type McpCorsOptions } from "./http.js";
import {
  APPROVAL_ARGUMENT,
  APPROVAL_META,
  errorResponse,
  INVALID_PARAMS,
  MCP_CLIENT_NOTIFICATIONS,
  MCP_CLIENT_REQUESTS,
  METHOD_NOT_FOUND,
  PARSE_ERROR,
  parseMessages,
  readToolCall,
  resultResponse,
  sessionContext,
  URL_ELICITATION_REQUIRED,
  type JsonRpcId,
  type Message,
  type ToolCall,
} from "./jsonrpc.js";
import { BoundedMemory, principalKey, type PendingStepUp } from "./memory.js";
import { canSplice, spliceResponses } from "./splice.js";

/** What the user must do out of band, handed to `stepUpUrl`. Carries no personal data: the URL must carry none either. */
export interface McpStepUpNeed {
  /** RFC 9470: the authentication levels that would do, and how recent it must be (seconds). */
  acrValues: string[];
  maxAge?: number;
  action: string;
  tool: string;
  /** The OAuth client (agent) whose grant the user steps up. */
  clientId: string;
  /** The URL elicitation's id (MCP elicitation: unique, echoed in notifications/elicitation/complete). */
  elicitationId: string;
  description: string;
}

export interface McpGuardOptions extends GuardOptions {
  /** The URL of this server's RFC 9728 document (protectedResourceMetadata(...).url). */
  resourceMetadataUrl: string;
  /** The action of a tool: a function or a table (unlisted tools fall back to the default); default `tools:<name>`. */
  toolAction?: ((tool: string) => string) | Readonly<Record<string, string>>;
  /** The resource of a tool call; default { type: "mcp_tool", id: <name> }. */
  toolResource?: (tool: string, args: JsonObject) => ResourceRef;
  /** The context of a tool call; default its arguments. */
  toolContext?: (tool: string, args: JsonObject) => JsonObject;
  /** The action checked for every message that calls no tool; default "mcp:session". */
  sessionAction?: string;
  /** Its resource; default { type: "mcp_server" }. */
  sessionResource?: ResourceRef;
  /** Scopes suggested in the 401 to a request without a token (MCP clients then request these). */
  scope?: string[];
  /**
   * How a tool call the policy refuses (a limit, an argument, an approval, a suspended
   * agent: a DENY without challenge) is answered: "tool_result" (default) a CallToolResult
   * with isError and the reasons in words, the other messages of a batch still served;
   * "http" the request refused in HTTP as toHttpAnswer answers the deny (403; 429 or 503
   * when it was only the rate, or only Verdict's unavailable state).
   */
  denials?: "tool_result" | "http";
  /** The text of such a tool result (default: the reasons' messages and codes). */
  denialText?: (tool: string, decision: Deny) => string;
  /**
   * Where a user completes a step-up out of band (e.g. the authorization server's
   * re-authentication page for the client's grant). When it returns a URL, clients that
   * declared URL elicitation get a URLElicitationRequiredError (-32042) for the tool call;
   * the others, and every step-up when this is unset, the RFC 9470 challenge (401).
   */
  stepUpUrl?: (need: McpStepUpNeed) => string | undefined;
  /** Most messages in one JSON-RPC batch (default 100); more is -32600. */
  maxBatchMessages?: number;
  /** Largest body the guard reads itself when no JSON parser ran before it (default 4 MiB); more is 413. */
  maxBodyBytes?: number;
  /** CORS for browser clients (default: any origin); false leaves CORS headers to the app (preflights still answered, without them). */
  cors?: McpCorsOptions | false;
  /** Scope challenges name the token's scopes and the missing ones (default), or only what the action needs. */
  scopeChallenge?: "granted_and_required" | "required";
  /** Methods beyond MCP's own that the server handles (checked with the session action); others are -32601. */
  extraMethods?: string[];
}

/** The members of an Express (or node:http) request the guard reads and sets. */
export interface McpRequestLike {
  method: string;
  url: string;
  originalUrl?: string;
  headers: HttpHeaders;
  socket?: unknown;
  /** The parsed JSON body; when absent the guard reads the body itself. */
  body?: unknown;
  readableEnded?: boolean;
  [Symbol.asyncIterator]?: () => AsyncIterator<unknown>;
  /** What the MCP SDK's transport hands to tool handlers as extra.authInfo. */
  auth?: McpAuthInfo;
  verdict?: VerdictContext;
}

/** Shaped like the MCP SDK's AuthInfo, so tool handlers receive it as extra.authInfo. */
export interface McpAuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  extra?: Record<string, unknown>;
}

/** What a tool handler finds in extra.authInfo.extra.verdict. */
export interface McpVerdict {
  principal: Principal;
  /**
   * One per message passed on to the MCP server, in the order of the body. A request's
   * carries its JSON-RPC `id` (unique in a batch), the handler's `extra.requestId`: a
   * handler finds its own decision by it, never by its tool, which a batch may call twice.
   */
  decisions: { id?: JsonRpcId; tool?: string; method?: string; decisionId: string; obligations: Allow["obligations"] }[];
}

/** How one message is checked, and what becomes of it once allowed. */
interface Planned {
  message: Message | undefined;
  item: { action: string; resource: ResourceRef; context: JsonObject; approvalId?: string };
  call?: ToolCall;
  /** Answered by the guard once allowed (-32601, -32602), or dropped (an unknown notification). */
  inBand?: JsonObject | "drop";
}

const DEFAULT_MAX_BATCH = 100;
const DEFAULT_MAX_BODY = 4 * 1024 * 1024;

function rpcError(res: NodeLikeResponse, status: number, id: JsonRpcId | null, code: number, message: string): void {
  writeNodeAnswer(res, { status, headers: { "content-type": "application/json; charset=utf-8" }, body: errorResponse(id, code, message) });
}

function mediaType(value: string | string[] | undefined): string {
  const first = Array.isArray(value) ? value[0] : value;
  return (first ?? "").split(";")[0]!.trim().toLowerCase();
}

/** Reasons that say nothing about the call itself (docs/reasons.md): the same call may pass later. */
const TRANSIENT_REASONS = new Set(["state_unavailable", "audit_unavailable", "issuer_unavailable", "policy_error", "rate_limited"]);

function defaultDenialText(tool: string, decision: Deny): string {
  const reasons = decision.reasons.length > 0 ? decision.reasons.map((r) => `${r.message} (${r.code})`).join("; ") : "the policy does not allow it";
  const transient = decision.reasons.length > 0 && decision.reasons.every((r) => TRANSIENT_REASONS.has(r.code));
  const retry =
    decision.retryAfterMs !== undefined
      ? `This may pass if retried in ${wholeSecondsToRetry(decision.retryAfterMs)} s or later.`
      : transient
        ? "This may pass if retried later."
        : "Retrying it unchanged will be refused again.";
  return `The call to ${tool} was not allowed: ${reasons}. ${retry}`;
}

/**
 * `app.all("/mcp", verdictMcpGuard(client, {...}), (req, res) => transport.handleRequest(req, res, req.body))`.
 * The guard reads the body itself (or uses express.json()'s), answers CORS preflights,
 * and passes on only the messages Verdict allowed.
 */
export function verdictMcpGuard(client: VerdictClient, options: McpGuardOptions) {
  if (typeof options?.resourceMetadataUrl !== "string")
    throw new VerdictError("verdict_invalid_options", "resourceMetadataUrl is required: the URL of the RFC 9728 document");
  const publicBaseUrl = parsePublicBaseUrl(options.publicBaseUrl);
  const sessionAction = options.sessionAction ?? "mcp:session";
  const sessionResource = options.sessionResource ?? { type: "mcp_server" };
  const table = typeof options.toolAction === "object" ? options.toolAction : undefined;
  const actionOf = (tool: string): string =>
    typeof options.toolAction === "function" ? options.toolAction(tool) : ((table && Object.hasOwn(table, tool) ? table[tool] : undefined) ?? `tools:${tool}`);
  const resourceOf = options.toolResource ?? ((tool: string) => ({ type: "mcp_tool", id: tool }));
  const contextOf = options.toolContext ?? ((_tool: string, args: JsonObject) => args);
  const callOptions = options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {};
  const denials = options.denials ?? "tool_result";
  const denialText = options.denialText ?? defaultDenialText;
  const maxBatch = options.maxBatchMessages ?? DEFAULT_MAX_BATCH;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const cors = options.cors ?? {};
  const grantedInChallenges = (options.scopeChallenge ?? "granted_and_required") === "granted_and_required";
  const extraMethods = new Set(options.extraMethods ?? []);
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new VerdictError("verdict_invalid_options", "maxBatchMessages must be a positive integer");

  // Per user and client: did it declare URL elicitation; which step-ups is it completing.
  const urlElicitation = new BoundedMemory<boolean>(10_000, 24 * 3_600_000);
  const pendingStepUps = new BoundedMemory<PendingStepUp>(10_000, 15 * 60_000);

  /** Gives back what the allowed messages reserved, when none of them will run. */
  const giveBack = (decisions: readonly Decision[]) =>
    Promise.all(
      decisions
        .filter((d): d is Allow => d.decision === "ALLOW" && d.obligations.length > 0)
        .map((d) =>
          client.release(d.decisionId, callOptions).catch((error: unknown) => (error instanceof VerdictError ? options.onError?.(error) : undefined)),
        ),
    );

  const answer = (res: NodeLikeResponse, outcome: Outcome, scheme?: "Bearer" | "DPoP", granted?: readonly string[]) => {
    const settings: ChallengeOptions = {
      resourceMetadata: options.resourceMetadataUrl,
      ...(scheme ? { scheme } : {}),
      ...(options.scope ? { scope: options.scope } : {}),
      ...(options.retryAfterSeconds !== undefined ? { retryAfterSeconds: options.retryAfterSeconds } : {}),
      ...(granted && grantedInChallenges ? { grantedScopes: granted } : {}),
    };
    const http = toHttpAnswer(outcome, settings);
    if (http) writeNodeAnswer(res, http);
  };

  function plan(message: Message): Planned {
    if (message.kind === "request" && message.method === "tools/call") {
      const call = readToolCall(message);
      if (typeof call !== "string") {
        const item = { action: actionOf(call.tool), resource: resourceOf(call.tool, call.args), context: contextOf(call.tool, call.args) };
        return { message, call, item: call.approvalId !== undefined ? { ...item, approvalId: call.approvalId } : item };
      }
      // Still decided (the token is verified, the policy sees the attempt); then -32602.
      return {
        message,
        item: { action: sessionAction, resource: sessionResource, context: sessionContext(message) },
        inBand: errorResponse(message.id, INVALID_PARAMS, `Invalid params: ${call}`),
      };
    }
    const planned: Planned = { message, item: { action: sessionAction, resource: sessionResource, context: sessionContext(message) } };
    if (message.kind === "request" && !MCP_CLIENT_REQUESTS.has(message.method) && !extraMethods.has(message.method)) {
      planned.inBand = errorResponse(message.id, METHOD_NOT_FOUND, `Method not found: ${message.method}`);
    } else if (message.kind === "notification" && !MCP_CLIENT_NOTIFICATIONS.has(message.method) && !extraMethods.has(message.method)) {
      planned.inBand = "drop";
    }
    return planned;
  }

  function elicitation(entry: Planned, decision: StepUp): JsonObject | "challenge" {
    const principal = decision.principal;
    const challenge = decision.challenge;
    if (challenge.error !== "insufficient_user_authentication") return "challenge";
    if (!options.stepUpUrl || !principal || !entry.call || entry.message?.kind !== "request") return "challenge";
    if (urlElicitation.get(principalKey(principal)) !== true) return "challenge";
    const key = `${principalKey(principal)}\n${entry.item.action}`;
    const pending = pendingStepUps.get(key);
    if (pending?.phase === "elicited") {
      // The client says the user is done: it must fetch a token that shows it.
      pendingStepUps.set(key, { ...pending, phase: "challenged" });
      return "challenge";
    }
    const elicitationId = randomUUID();
    const need: McpStepUpNeed = {
      acrValues: challenge.acrValues,
      ...(challenge.maxAge !== undefined ? { maxAge: challenge.maxAge } : {}),
      action: entry.item.action,
      tool: entry.call.tool,
      clientId: principal.clientId,
      elicitationId,
      description: decision.challenge.description,
    };
    const url = options.stepUpUrl(need);
    if (url === undefined) return "challenge";
    pendingStepUps.set(key, { elicitationId, phase: "elicited" });
    const message = `${decision.challenge.description || `${entry.call.tool} needs the user to authenticate again`}. Open the link to confirm, then retry.`;
    return errorResponse(entry.message.id, URL_ELICITATION_REQUIRED, "This request needs the user to authenticate again.", {
      elicitations: [{ mode: "url", elicitationId, url, message }],
    });
  }

  async function guard(req: McpRequestLike, res: NodeLikeResponse, next: NextFunction): Promise<void> {
    const origin = checkOrigin(req.headers, cors);
    if (!origin.ok) return rpcError(res, 403, null, -32000, "Forbidden: this Origin may not use the MCP endpoint");
    const method = req.method.toUpperCase();
    // A preflight carries no token and runs nothing: answered here, never passed on.
    if (method === "OPTIONS") return answerPreflight(res, origin, cors === false ? {} : cors);
    if (cors !== false) setCorsHeaders(res, origin);
    if (method !== "POST" && method !== "GET" && method !== "DELETE") {
      res.setHeader("allow", "GET, POST, DELETE, OPTIONS");
      return rpcError(res, 405, null, -32000, "Method not allowed");
    }

    const credentials = readCredentials(req.headers);
    if (credentials.kind !== "token") return answer(res, { kind: credentials.kind === "none" ? "no_token" : credentials.kind });

    let planned: Planned[];
    let batch = false;
    if (method === "POST") {
      let body = req.body;
      if (body === undefined || typeof body === "string" || Buffer.isBuffer(body)) {
        let text: string;
        if (body === undefined) {
          if (mediaType(req.headers["content-type"]) !== "application/json")
            return rpcError(res, 415, null, -32000, "Unsupported Media Type: Content-Type must be application/json");
          const raw = await readBody(req, maxBody);
          if (!raw.ok) return rpcError(res, 413, null, -32000, `Payload Too Large: the body may hold at most ${maxBody} bytes`);
          text = raw.text;
        } else {
          text = Buffer.isBuffer(body) ? body.toString("utf8") : body;
        }
        try {
          body = JSON.parse(text);
        } catch {
          return rpcError(res, 400, null, PARSE_ERROR, "Parse error: the body is not JSON");
        }
        req.body = body;
      }
      const parsed = parseMessages(body, maxBatch);
      if (!parsed.ok) return rpcError(res, 400, parsed.id, parsed.code, parsed.message);
      batch = parsed.batch;
      planned = parsed.messages.map(plan);
    } else {
      planned = [{ message: undefined, item: { action: sessionAction, resource: sessionResource, context: { kind: "http", http_method: method } } }];
    }

    const url =
      credentials.dpopProof !== undefined
        ? requestUrl({ method, url: req.originalUrl ?? req.url, headers: req.headers, encrypted: isEncrypted(req.socket) }, publicBaseUrl)
        : undefined;
    const requestId = readRequestId(req.headers);
    const traceContext = readTraceContext(req.headers);
    const common = {
      token: credentials.token,
      ...(requestId !== undefined ? { requestId } : {}),
      ...(traceContext ? { traceContext } : {}),
      ...(credentials.dpopProof !== undefined && url !== undefined ? { dpop: { proof: credentials.dpopProof, method, url } } : {}),
    };

    let decisions: Decision[];
    try {
      if (planned.length === 1) {
        decisions = [await client.check({ ...common, ...planned[0]!.item }, callOptions)];
      } else {
        // One token for every message: verified once, each message decided on its own.
        const results = await client.checkBatch({ ...common, items: planned.map((p) => p.item) }, callOptions);
        decisions = [];
        let malformed: string | undefined;
        for (const result of results) {
          if (result.ok) decisions.push(result.decision);
          else malformed ??= result.error.message;
        }
        if (malformed !== undefined) {
          // Verdict decided the other messages, and applied their obligations: none will run.
          await giveBack(decisions);
          throw new VerdictError("verdict_invalid_argument", `a message was refused as malformed: ${malformed}`);
        }
      }
    } catch (error) {
      if (!(error instanceof VerdictError)) throw error;
      options.onError?.(error);
      return answer(res, { kind: "error", error });
    }

    // From here on Verdict has decided, and may have reserved for the allowed messages: any exit
    // that passes none of them on gives back what they reserved, as a refusal does.
    try {
      // What each message becomes: passed on, answered in MCP, or a refusal of the whole request in HTTP.
      const forwarded: { entry: Planned; decision: Allow }[] = [];
      const inBand: JsonObject[] = [];
      const refusals: Decision[] = [];
      for (const [i, entry] of planned.entries()) {
        const decision = decisions[i]!;
        if (decision.decision === "ALLOW") {
          if (entry.inBand === undefined) forwarded.push({ entry, decision });
          else if (entry.inBand !== "drop") inBand.push(entry.inBand);
          continue;
        }
        const toolRequest = entry.call && entry.message?.kind === "request" ? entry.message : undefined;
        if (toolRequest && decision.decision === "DENY" && !decision.challenge && denials === "tool_result") {
          inBand.push(
            refusedToolResult(
              toolRequest.id,
              denialText(entry.call!.tool, decision),
              decision,
              decision.retryAfterMs !== undefined ? { retry_after_ms: decision.retryAfterMs } : {},
            ),
          );
          continue;
        }
        if (toolRequest && decision.decision === "STEP_UP" && decision.challenge.error === "approval_required" && denials === "tool_result") {
          inBand.push(approvalToolResult(toolRequest.id, entry.call!.tool, decision, decision.challenge));
          continue;
        }
        if (toolRequest && decision.decision === "STEP_UP") {
          const elicited = elicitation(entry, decision);
          if (elicited !== "challenge") {
            inBand.push(elicited);
            continue;
          }
        }
        refusals.push(decision);
      }

      const allowed = forwarded.map((f) => f.decision);
      if (refusals.length > 0) {
        // The request will not run, so what the allowed messages reserved is given back.
        await giveBack(decisions);
        const refusal = strongestRefusal(refusals);
        const principal = decisions.find((d) => d.principal)?.principal;
        return answer(res, { kind: "decision", decision: refusal }, credentials.scheme, principal?.scopes);
      }

      for (const { entry, decision } of forwarded) {
        const key = principalKey(decision.principal);
        if (entry.message?.kind === "request" && entry.message.method === "initialize") {
          const capabilities = entry.message.params?.["capabilities"];
          const elicitationCapability =
            typeof capabilities === "object" && capabilities !== null && !Array.isArray(capabilities) ? capabilities["elicitation"] : undefined;
          const url =
            typeof elicitationCapability === "object" && elicitationCapability !== null && !Array.isArray(elicitationCapability)
              ? elicitationCapability["url"]
              : undefined;
          urlElicitation.set(key, typeof url === "object" && url !== null);
        }
        if (entry.call) pendingStepUps.delete(`${key}\n${entry.item.action}`);
      }

      if (forwarded.length === 0) {
        if (inBand.length === 0) {
          res.statusCode = 202;
          res.end("");
          return;
        }
        res.statusCode = 200;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(batch ? inBand : inBand[0]));
        return;
      }
      if (inBand.length > 0) {
        if (!canSplice(res)) throw new VerdictError("verdict_invalid_options", "the MCP guard needs a node:http response to add its answers to a batch");
        spliceResponses(res, inBand);
      }
      const raw = (entry: Planned) => entry.call?.forward ?? entry.message!.raw;
      if (method === "POST") req.body = batch ? forwarded.map((f) => raw(f.entry)) : raw(forwarded[0]!.entry);

      const first = allowed[0]!;
      const verdict: McpVerdict = {
        principal: first.principal,
        decisions: forwarded.map(({ entry, decision }) => ({
          ...(entry.message?.kind === "request" ? { id: entry.message.id } : {}),
          ...(entry.call ? { tool: entry.call.tool } : {}),
          ...(entry.message && entry.message.kind !== "response" ? { method: entry.message.method } : {}),
          decisionId: decision.decisionId,
          obligations: decision.obligations,
        })),
      };
      req.verdict = {
        principal: first.principal,
        decisionId: first.decisionId,
        obligations: first.obligations,
        reasons: first.reasons,
        policyRevision: first.policyRevision,
        // The HTTP request's, when it passed on one message. Of several, some may have run: releasing them all
        // would give back what was spent, so each is released on its own, by its decision (found by request id).
        release: () => (allowed.length === 1 ? client.release(first.decisionId, callOptions) : Promise.reject(ambiguousRelease(allowed.length))),
      };
      req.auth = {
        token: credentials.token,
        clientId: first.principal.clientId,
        scopes: first.principal.scopes,
        expiresAt: first.principal.expiresAt,
        extra: { verdict },
      };
    } catch (error) {
      await giveBack(decisions);
      throw error;
    }
    // The client was answered meanwhile (a timeout middleware): nothing is passed on, and what was reserved comes back.
    if (answered(res)) {
      await giveBack(decisions);
      return;
    }
    next();
  }

  return (req: McpRequestLike, res: NodeLikeResponse, next: NextFunction): void => {
    guard(req, res, next).catch((error: unknown) => next(error ?? new Error("Verdict MCP guard failed")));
  };
}

function ambiguousRelease(count: number): VerdictError {
  return new VerdictError(
    "verdict_release_ambiguous",
    `req.verdict.release() cannot tell which of the ${count} messages this request passed on did not happen: nothing was released. ` +
      "Release each decision whose action did not happen on its own, with client.release(decisionId): the decisions are in " +
      "req.auth.extra.verdict.decisions, and a tool handler finds its own by its request id (decisions.find((d) => d.id === extra.requestId)).",
  );
}

/**
 * A tool call that needs a person's approval, answered in MCP so the model can act on
 * it: ask the user to approve at the URL, then call the tool again, unchanged, naming
 * the approval. The decision, the approval and the reasons are in `_meta` for clients.
 */
function approvalToolResult(id: JsonRpcId, tool: string, decision: StepUp, challenge: ApprovalRequiredChallenge): JsonObject {
  const expires = challenge.expiresAt !== undefined ? ` before ${new Date(challenge.expiresAt * 1000).toISOString()}` : "";
  const text =
    challenge.approvalId !== undefined
      ? `The call to ${tool} needs the user's approval first: ${challenge.description} Ask the user to approve it at ${challenge.approvalUrl ?? ""}${expires}. ` +
        `Once they have, call ${tool} again with exactly the same arguments and "${APPROVAL_ARGUMENT}": "${challenge.approvalId}" (or _meta "${APPROVAL_META}"). ` +
        "The approval is for this request only and can be used once; a changed request is refused."
      : `The call to ${tool} needs the user's approval (a dry run: none was recorded).`;
  return refusedToolResult(id, text, decision, {
    ...(challenge.approvalId !== undefined
      ? { approval: { id: challenge.approvalId, url: challenge.approvalUrl ?? "", expires_at: challenge.expiresAt ?? 0 } }
      : {}),
    ...(challenge.authorizationDetails.length > 0 ? { authorization_details: challenge.authorizationDetails } : {}),
  });
}

/** A tool call Verdict did not allow, answered as a tool result the model reads: the words, and the decision in `_meta` for clients. */
function refusedToolResult(id: JsonRpcId, text: string, decision: Deny | StepUp, more: JsonObject): JsonObject {
  return resultResponse(id, {
    content: [{ type: "text", text }],
    isError: true,
    _meta: {
      "verdict/decision": {
        decision: decision.decision,
        decision_id: decision.decisionId,
        reasons: decision.reasons.map((r) => ({ code: r.code, message: r.message })),
        ...more,
      },
    },
  });
}

/**
 * The one refusal a request gets when several messages are refused in HTTP: the token
 * first (invalid), then the scopes (every missing scope in one challenge, so the client
 * re-authorizes once), then a step-up, then a plain deny.
 */
function strongestRefusal(refusals: Decision[]): Decision {
  const byChallenge = (error: string) => refusals.find((d) => d.decision !== "ALLOW" && d.challenge?.error === error);
  const invalid = byChallenge("invalid_token") ?? byChallenge("invalid_dpop_proof");
  if (invalid) return invalid;
  const scoped = refusals.filter((d): d is Deny => d.decision === "DENY" && d.challenge?.error === "insufficient_scope");
  if (scoped.length > 0) {
    const scopes = [...new Set(scoped.flatMap((d) => (d.challenge?.error === "insufficient_scope" ? d.challenge.scopes : [])))];
    const first = scoped[0]!;
    return { ...first, challenge: { error: "insufficient_scope", scopes, description: first.challenge!.description } };
  }
  return refusals.find((d) => d.decision === "STEP_UP") ?? refusals[0]!;
}

/**
 * The verified principal in an MCP tool handler: `principalOf(extra.authInfo)`.
 * Throws (fail closed) when the request did not pass the guard.
 */
export function principalOf(authInfo: { extra?: Record<string, unknown> } | undefined): Principal {
  const verdict = authInfo?.extra?.["verdict"] as Partial<McpVerdict> | undefined;
  if (!verdict?.principal || typeof verdict.principal.subject !== "string") {
    throw new VerdictError("verdict_not_checked", "this MCP request was not allowed by the Verdict guard");
  }
  return verdict.principal;
}
