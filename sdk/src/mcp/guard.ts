// The MCP authorization guard. An MCP server on the Streamable HTTP transport is an
// OAuth resource server (MCP authorization specification): this is HTTP middleware
// for its endpoint. It asks Verdict about every tools/call in the JSON-RPC body
// (single message or batch) with the tool's action and its arguments as context;
// any other request (initialize, tools/list, the GET stream, DELETE) is checked
// with the session action, so it too needs a valid token. Refusals are HTTP
// 401/403 whose challenges carry resource_metadata (RFC 9728 §5.1).
import type { ResourceRef, VerdictClient } from "../client.js";
import type { Allow, Decision, Principal } from "../decision.js";
import { VerdictError } from "../errors.js";
import {
  isEncrypted,
  parsePublicBaseUrl,
  readCredentials,
  readRequestId,
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
import { isJsonObject, type JsonObject } from "../wire/index.js";

export interface McpGuardOptions extends GuardOptions {
  /** The URL of this server's RFC 9728 document (protectedResourceMetadata(...).url). */
  resourceMetadataUrl: string;
  /** The action of a tool: a function or a table (unlisted tools fall back to the default); default `tools:<name>`. */
  toolAction?: ((tool: string) => string) | Readonly<Record<string, string>>;
  /** The resource of a tool call; default { type: "mcp_tool", id: <name> }. */
  toolResource?: (tool: string, args: JsonObject) => ResourceRef;
  /** The context of a tool call; default its arguments. */
  toolContext?: (tool: string, args: JsonObject) => JsonObject;
  /** The action checked for requests that call no tool; default "mcp:session". */
  sessionAction?: string;
  /** Its resource; default { type: "mcp_server" }. */
  sessionResource?: ResourceRef;
  /** Scopes suggested in the 401 to a request without a token (MCP clients then request these). */
  scope?: string[];
}

/** The members of an Express (or node:http) request the guard reads and sets. */
export interface McpRequestLike {
  method: string;
  url: string;
  originalUrl?: string;
  headers: HttpHeaders;
  socket?: unknown;
  /** The parsed JSON body (mount express.json() first). */
  body?: unknown;
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
  /** One per checked tools/call (or the session check), in the order of the body. */
  decisions: { tool?: string; decisionId: string; obligations: Allow["obligations"] }[];
}

interface ToolCall {
  tool: string;
  args: JsonObject;
}

type Classified = { ok: true; calls: ToolCall[] } | { ok: false; description: string };

/** The tools/call messages of a JSON-RPC body; anything named tools/call that cannot be read is refused. */
function toolCalls(body: unknown): Classified {
  const messages = Array.isArray(body) ? body : [body];
  const calls: ToolCall[] = [];
  for (const message of messages) {
    if (!isJsonObject(message) || message["method"] !== "tools/call") continue;
    const params = message["params"];
    const name = isJsonObject(params) ? params["name"] : undefined;
    if (typeof name !== "string" || name === "") return { ok: false, description: "tools/call needs params.name, the tool's name" };
    const args = isJsonObject(params) ? (params["arguments"] ?? {}) : {};
    if (!isJsonObject(args)) return { ok: false, description: "tools/call params.arguments must be an object" };
    calls.push({ tool: name, args });
  }
  return { ok: true, calls };
}

function mediaType(value: string | string[] | undefined): string {
  const first = Array.isArray(value) ? value[0] : value;
  return (first ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * `app.post("/mcp", express.json(), verdictMcpGuard(client, {...}), (req, res) => transport.handleRequest(req, res, req.body))`
 * (and the same guard on GET and DELETE of the endpoint).
 */
export function verdictMcpGuard(client: VerdictClient, options: McpGuardOptions) {
  if (typeof options?.resourceMetadataUrl !== "string") throw new VerdictError("verdict_invalid_options", "resourceMetadataUrl is required: the URL of the RFC 9728 document");
  const publicBaseUrl = parsePublicBaseUrl(options.publicBaseUrl);
  const sessionAction = options.sessionAction ?? "mcp:session";
  const sessionResource = options.sessionResource ?? { type: "mcp_server" };
  const table = typeof options.toolAction === "object" ? options.toolAction : undefined;
  const actionOf = (tool: string): string =>
    typeof options.toolAction === "function" ? options.toolAction(tool) : (table && Object.hasOwn(table, tool) ? table[tool] : undefined) ?? `tools:${tool}`;
  const resourceOf = options.toolResource ?? ((tool: string) => ({ type: "mcp_tool", id: tool }));
  const contextOf = options.toolContext ?? ((_tool: string, args: JsonObject) => args);
  const callOptions = options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {};

  const answer = (res: NodeLikeResponse, outcome: Outcome, scheme?: "Bearer" | "DPoP") => {
    const settings: ChallengeOptions = {
      resourceMetadata: options.resourceMetadataUrl,
      ...(scheme ? { scheme } : {}),
      ...(options.scope ? { scope: options.scope } : {}),
      ...(options.retryAfterSeconds !== undefined ? { retryAfterSeconds: options.retryAfterSeconds } : {}),
    };
    const http = toHttpAnswer(outcome, settings);
    if (http) writeNodeAnswer(res, http);
  };

  async function guard(req: McpRequestLike, res: NodeLikeResponse, next: NextFunction): Promise<void> {
    const credentials = readCredentials(req.headers);
    if (credentials.kind !== "token") return answer(res, { kind: credentials.kind === "none" ? "no_token" : credentials.kind });

    if (req.method.toUpperCase() === "POST" && req.body === undefined) {
      if (mediaType(req.headers["content-type"]) === "application/json") {
        // The transport would parse the body itself, unseen by this guard: refuse to run like that.
        throw new VerdictError("verdict_invalid_options", "the MCP guard needs the parsed body: mount express.json() before it");
      }
      return answer(res, { kind: "malformed_request", code: "mcp_request_malformed", description: "MCP requests are JSON-RPC messages in an application/json body." });
    }
    const classified = toolCalls(req.body);
    if (!classified.ok) return answer(res, { kind: "malformed_request", code: "mcp_request_malformed", description: classified.description });

    const url = credentials.dpopProof !== undefined ? requestUrl({ method: req.method, url: req.originalUrl ?? req.url, headers: req.headers, encrypted: isEncrypted(req.socket) }, publicBaseUrl) : undefined;
    const requestId = readRequestId(req.headers);
    const common = {
      token: credentials.token,
      ...(requestId !== undefined ? { requestId } : {}),
      ...(credentials.dpopProof !== undefined && url !== undefined ? { dpop: { proof: credentials.dpopProof, method: req.method.toUpperCase(), url } } : {}),
    };
    const items =
      classified.calls.length === 0
        ? [{ action: sessionAction, resource: sessionResource, context: {} }]
        : classified.calls.map(({ tool, args }) => ({ action: actionOf(tool), resource: resourceOf(tool, args), context: contextOf(tool, args) }));

    let decisions: Decision[];
    try {
      if (items.length === 1) {
        decisions = [await client.check({ ...common, ...items[0]! }, callOptions)];
      } else {
        // One token for several tool calls: verified once, each call decided on its own.
        const results = await client.checkBatch({ ...common, items }, callOptions);
        decisions = [];
        for (const result of results) {
          if (!result.ok) throw new VerdictError("verdict_invalid_argument", `a tool call was refused as malformed: ${result.error.message}`);
          decisions.push(result.decision);
        }
      }
    } catch (error) {
      if (!(error instanceof VerdictError)) throw error;
      options.onError?.(error);
      return answer(res, { kind: "error", error });
    }

    const refused = decisions.find((d) => d.decision !== "ALLOW");
    const allowed = decisions.filter((d): d is Allow => d.decision === "ALLOW");
    if (refused) {
      // The request will not run, so what the allowed calls reserved is given back.
      await Promise.all(
        allowed
          .filter((d) => d.obligations.length > 0)
          .map((d) => client.release(d.decisionId, callOptions).catch((error: unknown) => (error instanceof VerdictError ? options.onError?.(error) : undefined))),
      );
      return answer(res, { kind: "decision", decision: refused }, credentials.scheme);
    }

    const first = allowed[0]!;
    const verdict: McpVerdict = {
      principal: first.principal,
      decisions: allowed.map((d, i) => ({ ...(classified.calls[i] ? { tool: classified.calls[i].tool } : {}), decisionId: d.decisionId, obligations: d.obligations })),
    };
    req.verdict = {
      principal: first.principal,
      decisionId: first.decisionId,
      obligations: first.obligations,
      reasons: first.reasons,
      policyRevision: first.policyRevision,
      release: () => client.release(first.decisionId, callOptions),
    };
    req.auth = {
      token: credentials.token,
      clientId: first.principal.clientId,
      scopes: first.principal.scopes,
      expiresAt: first.principal.expiresAt,
      extra: { verdict },
    };
    next();
  }

  return (req: McpRequestLike, res: NodeLikeResponse, next: NextFunction): void => {
    guard(req, res, next).catch((error: unknown) => next(error ?? new Error("Verdict MCP guard failed")));
  };
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
