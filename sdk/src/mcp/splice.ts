// Adding the guard's own JSON-RPC answers (a refused tool call as a tool result, a
// URL elicitation, a method not found) to what the MCP handler answers for the rest
// of a batch. The handler writes either one JSON body (the batch's responses) or an
// SSE stream (one event per message), or 202 when it had only notifications to take;
// this wraps the Node response so the guard's messages join whichever it is.
import type { JsonObject } from "../wire/index.js";

/** The members of node:http's ServerResponse that splicing wraps. */
export interface SplicableResponse {
  statusCode: number;
  getHeader(name: string): unknown;
  writeHead(...args: unknown[]): unknown;
  write(...args: unknown[]): boolean;
  end(...args: unknown[]): unknown;
}

export function canSplice(res: object): res is SplicableResponse {
  const r = res as Partial<Record<keyof SplicableResponse, unknown>>;
  return typeof r.writeHead === "function" && typeof r.write === "function" && typeof r.end === "function" && typeof r.getHeader === "function";
}

type HeaderRecord = Record<string, unknown>;

function headerArg(args: unknown[]): HeaderRecord {
  // writeHead(status, [statusMessage], [headers]); headers may be an object or a flat [name, value, …] list.
  const last = args.find((arg) => typeof arg === "object" && arg !== null);
  if (Array.isArray(last)) {
    const record: HeaderRecord = {};
    for (let i = 0; i + 1 < last.length; i += 2) record[String(last[i]).toLowerCase()] = last[i + 1];
    return record;
  }
  const record: HeaderRecord = {};
  for (const [name, value] of Object.entries((last as HeaderRecord | undefined) ?? {})) record[name.toLowerCase()] = value;
  return record;
}

const mediaType = (value: unknown): string =>
  String(Array.isArray(value) ? value[0] : (value ?? ""))
    .split(";")[0]!
    .trim()
    .toLowerCase();

function toBuffer(chunk: unknown, encoding?: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk), typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
}

const sseEvents = (messages: JsonObject[]) => messages.map((message) => `event: message\ndata: ${JSON.stringify(message)}\n\n`).join("");

/**
 * Makes `res` carry `extra` besides what the handler writes: as more SSE events, as
 * more entries of the JSON array, or (instead of 202) as the whole JSON answer. An
 * error status from the handler is passed through unchanged.
 */
export function spliceResponses(res: SplicableResponse, extra: JsonObject[]): void {
  const original = { writeHead: res.writeHead.bind(res), write: res.write.bind(res), end: res.end.bind(res) };
  let mode: "pending" | "pass" | "buffer" = "pending";
  let status = 200;
  let headers: HeaderRecord = {};
  const chunks: Buffer[] = [];

  const head = (args: unknown[]) => {
    status = typeof args[0] === "number" ? args[0] : res.statusCode;
    headers = headerArg(args.slice(1));
    const type = mediaType(headers["content-type"] ?? res.getHeader("content-type"));
    if (status === 200 && type === "text/event-stream") {
      mode = "pass";
      original.writeHead.apply(res, args);
      original.write.call(res, sseEvents(extra));
    } else if ((status === 200 && type === "application/json") || status === 202) {
      mode = "buffer";
    } else {
      mode = "pass";
      original.writeHead.apply(res, args);
    }
  };

  res.writeHead = function (...args: unknown[]) {
    if (mode === "pending") head(args);
    else original.writeHead.apply(res, args);
    return res;
  };
  res.write = function (...args: unknown[]) {
    if (mode === "pending") head([res.statusCode]);
    if (mode === "buffer") {
      chunks.push(toBuffer(args[0], args[1]));
      const callback = args.find((arg) => typeof arg === "function") as (() => void) | undefined;
      callback?.();
      return true;
    }
    return original.write.apply(res, args);
  };
  res.end = function (...args: unknown[]) {
    if (mode === "pending") head([res.statusCode]);
    if (mode !== "buffer") return original.end.apply(res, args);
    const chunk = args[0];
    if (chunk !== undefined && typeof chunk !== "function") chunks.push(toBuffer(chunk, args[1]));
    const text = Buffer.concat(chunks).toString("utf8");
    let answers: unknown[] = [];
    if (status === 200 && text.trim() !== "") {
      const parsed: unknown = JSON.parse(text);
      answers = Array.isArray(parsed) ? parsed : [parsed];
    }
    const body = JSON.stringify([...answers, ...extra]);
    const rest: HeaderRecord = {};
    for (const [name, value] of Object.entries(headers)) if (name !== "content-length" && name !== "content-type") rest[name] = value;
    // A framework may have told node:http the handler's body length already; ours differs.
    (res as unknown as { _contentLength?: unknown })._contentLength = null;
    original.writeHead.call(res, 200, { ...rest, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) });
    return original.end.call(res, body);
  };
}
