// Reading an MCP request body as JSON-RPC 2.0 messages, and the JSON-RPC answers
// the guard gives itself. Codes are those JSON-RPC 2.0 and the MCP specification
// (2025-11-25) name: -32700 parse error, -32600 invalid request, -32601 method not
// found, -32602 invalid params (a tools/call that does not fit CallToolRequest),
// -32042 URL elicitation required.
import { isJsonObject, type JsonObject, type JsonValue } from "../wire/index.js";

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const URL_ELICITATION_REQUIRED = -32042;

export type JsonRpcId = string | number;

/** The methods a client may send (MCP 2025-11-25 schema: ClientRequest and ClientNotification). */
export const MCP_CLIENT_REQUESTS: ReadonlySet<string> = new Set([
  "initialize",
  "ping",
  "completion/complete",
  "logging/setLevel",
  "prompts/get",
  "prompts/list",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "tools/call",
  "tools/list",
  "tasks/get",
  "tasks/result",
  "tasks/list",
  "tasks/cancel",
]);

export const MCP_CLIENT_NOTIFICATIONS: ReadonlySet<string> = new Set([
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
  "notifications/roots/list_changed",
  "notifications/tasks/status",
]);

/** One message of the body, classified. */
export type Message =
  | { kind: "request"; id: JsonRpcId; method: string; params: JsonObject | undefined; raw: JsonObject }
  | { kind: "notification"; method: string; params: JsonObject | undefined; raw: JsonObject }
  /** A client's answer to a server request (elicitation/create, sampling, roots/list). */
  | { kind: "response"; id: JsonRpcId; raw: JsonObject };

export type ParsedBody = { ok: true; batch: boolean; messages: Message[] } | { ok: false; code: number; message: string; id: JsonRpcId | null };

const isId = (value: unknown): value is JsonRpcId => typeof value === "string" || (typeof value === "number" && Number.isInteger(value));

function classify(value: unknown): Message | string {
  if (!isJsonObject(value)) return "a JSON-RPC message must be an object";
  if (value["jsonrpc"] !== "2.0") return 'a JSON-RPC message needs "jsonrpc": "2.0"';
  const method = value["method"];
  const params = value["params"];
  if (method !== undefined) {
    if (typeof method !== "string" || method === "") return "method must be a non-empty string";
    if (params !== undefined && !isJsonObject(params)) return "params must be an object";
    if ("id" in value) {
      // MCP: a request id is a string or an integer, never null.
      if (!isId(value["id"])) return "a request id must be a string or an integer";
      return { kind: "request", id: value["id"], method, params, raw: value };
    }
    return { kind: "notification", method, params, raw: value };
  }
  if (!isId(value["id"])) return "a response needs the id of the request it answers";
  const hasResult = "result" in value;
  const hasError = "error" in value;
  if (hasResult === hasError) return "a response carries exactly one of result or error";
  return { kind: "response", id: value["id"], raw: value };
}

/** A parsed JSON body as MCP messages: one message, or a batch of at most maxBatch. */
export function parseMessages(body: unknown, maxBatch: number): ParsedBody {
  if (Array.isArray(body)) {
    if (body.length === 0) return { ok: false, code: INVALID_REQUEST, message: "Invalid Request: an empty batch", id: null };
    if (body.length > maxBatch) return { ok: false, code: INVALID_REQUEST, message: `Invalid Request: a batch holds at most ${maxBatch} messages`, id: null };
    const messages: Message[] = [];
    // A tool handler finds its own decision by its request id: two requests with one id could take each other's.
    const requestIds = new Map<JsonRpcId, number>();
    for (const [i, item] of body.entries()) {
      const message = classify(item);
      if (typeof message === "string") return { ok: false, code: INVALID_REQUEST, message: `Invalid Request: message ${i}: ${message}`, id: null };
      if (message.kind === "request") {
        const first = requestIds.get(message.id);
        if (first !== undefined)
          return { ok: false, code: INVALID_REQUEST, message: `Invalid Request: message ${i} repeats the id of message ${first}`, id: null };
        requestIds.set(message.id, i);
      }
      messages.push(message);
    }
    return { ok: true, batch: true, messages };
  }
  const message = classify(body);
  if (typeof message === "string") {
    const id = isJsonObject(body) && isId(body["id"]) ? body["id"] : null;
    return { ok: false, code: INVALID_REQUEST, message: `Invalid Request: ${message}`, id };
  }
  return { ok: true, batch: false, messages: [message] };
}

export function errorResponse(id: JsonRpcId | null, code: number, message: string, data?: JsonValue): JsonObject {
  return { jsonrpc: "2.0", id, error: { code, message, ...(data !== undefined ? { data } : {}) } };
}

export function resultResponse(id: JsonRpcId, result: JsonObject): JsonObject {
  return { jsonrpc: "2.0", id, result };
}

/** What a session check tells the policy about a message: its method and what it targets. */
export function sessionContext(message: Message): JsonObject {
  if (message.kind === "response") return { kind: "response" };
  const context: JsonObject = { kind: message.kind, method: message.method };
  const params = message.params ?? {};
  const text = (value: JsonValue | undefined) => (typeof value === "string" ? value : undefined);
  const uri = text(params["uri"]);
  const name = text(params["name"]);
  const level = text(params["level"]);
  const taskId = text(params["taskId"]);
  if (uri !== undefined) context["uri"] = uri;
  if (name !== undefined) context["name"] = name;
  if (level !== undefined) context["level"] = level;
  if (taskId !== undefined) context["task_id"] = taskId;
  // completion/complete names what it completes in params.ref (a prompt or a resource template).
  const ref = params["ref"];
  if (isJsonObject(ref)) {
    const refName = text(ref["name"]);
    const refUri = text(ref["uri"]);
    if (refName !== undefined) context["name"] = refName;
    if (refUri !== undefined) context["uri"] = refUri;
  }
  return context;
}

export interface ToolCall {
  tool: string;
  args: JsonObject;
  /** The approval a retried call names (docs/approvals.md): `_meta["verdict/approval_id"]`, or the argument `verdict_approval_id`. */
  approvalId?: string;
  /** The message to pass on when the approval came as an argument: without it, so the tool never sees it. */
  forward?: JsonObject;
}

/** Where a retried tool call names its approval: in `_meta` (clients), or as an argument (what a model can write). */
export const APPROVAL_META = "verdict/approval_id";
export const APPROVAL_ARGUMENT = "verdict_approval_id";

/** A tools/call's tool and arguments, or why it does not fit CallToolRequest. */
export function readToolCall(message: Message & { kind: "request" }): ToolCall | string {
  const params = message.params;
  const name = params?.["name"];
  if (typeof name !== "string" || name === "") return "tools/call needs params.name, the tool's name";
  const args = params?.["arguments"] ?? {};
  if (!isJsonObject(args)) return "tools/call params.arguments must be an object";
  const meta = params?.["_meta"];
  const fromMeta = isJsonObject(meta) ? meta[APPROVAL_META] : undefined;
  const { [APPROVAL_ARGUMENT]: fromArgument, ...rest } = args;
  const approvalId = typeof fromMeta === "string" ? fromMeta : typeof fromArgument === "string" ? fromArgument : undefined;
  if (fromArgument === undefined) return { tool: name, args, ...(approvalId !== undefined ? { approvalId } : {}) };
  return { tool: name, args: rest, ...(approvalId !== undefined ? { approvalId } : {}), forward: { ...message.raw, params: { ...params, arguments: rest } } };
}
