// The HTTP side of the MCP endpoint that is not authorization: CORS (a browser's
// preflight carries no token and runs nothing, so it is answered without one;
// challenges must expose WWW-Authenticate to browser clients) and reading the
// body when no JSON parser ran before the guard.
import type { HttpHeaders, NodeLikeResponse } from "../http/index.js";

export interface McpCorsOptions {
  /** Origins allowed to call the endpoint from a browser: "*" (default) or a list of exact origins. A request from another origin is refused 403 (MCP transports: validate Origin). */
  allowOrigins?: "*" | string[];
  /** Access-Control-Max-Age of a preflight (default 600). */
  maxAgeSeconds?: number;
}

const ALLOW_METHODS = "GET, POST, DELETE, OPTIONS";
const ALLOW_HEADERS = "authorization, content-type, accept, dpop, mcp-session-id, mcp-protocol-version, last-event-id, x-request-id";
/** What a browser client may read of an answer: the challenge, the session, when to retry. */
export const EXPOSE_HEADERS = "WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After";

function header(headers: HttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export type OriginCheck = { ok: true; allowOrigin?: string } | { ok: false };

/** Whether the request's Origin may use the endpoint, and the Access-Control-Allow-Origin to send. */
export function checkOrigin(headers: HttpHeaders, cors: McpCorsOptions | false): OriginCheck {
  const origin = header(headers, "origin");
  if (cors === false || origin === undefined) return { ok: true };
  const allowed = cors.allowOrigins ?? "*";
  if (allowed === "*") return { ok: true, allowOrigin: "*" };
  return allowed.includes(origin) ? { ok: true, allowOrigin: origin } : { ok: false };
}

export function setCorsHeaders(res: NodeLikeResponse, origin: OriginCheck): void {
  if (!origin.ok || origin.allowOrigin === undefined) return;
  res.setHeader("access-control-allow-origin", origin.allowOrigin);
  if (origin.allowOrigin !== "*") res.setHeader("vary", "Origin");
  res.setHeader("access-control-expose-headers", EXPOSE_HEADERS);
}

export function answerPreflight(res: NodeLikeResponse, origin: OriginCheck, cors: McpCorsOptions): void {
  res.statusCode = 204;
  if (origin.ok && origin.allowOrigin !== undefined) {
    res.setHeader("access-control-allow-origin", origin.allowOrigin);
    if (origin.allowOrigin !== "*") res.setHeader("vary", "Origin");
    res.setHeader("access-control-allow-methods", ALLOW_METHODS);
    res.setHeader("access-control-allow-headers", ALLOW_HEADERS);
    res.setHeader("access-control-max-age", String(cors.maxAgeSeconds ?? 600));
  }
  res.setHeader("allow", ALLOW_METHODS);
  res.end("");
}

export interface ReadableRequest {
  headers: HttpHeaders;
  readableEnded?: boolean;
  [Symbol.asyncIterator]?: () => AsyncIterator<unknown>;
}

export type RawBody = { ok: true; text: string } | { ok: false; tooLarge: true };

/** The request body as text, at most maxBytes (a declared Content-Length over it is refused unread). */
export async function readBody(req: ReadableRequest, maxBytes: number): Promise<RawBody> {
  if (Number(header(req.headers, "content-length")) > maxBytes) return { ok: false, tooLarge: true };
  const iterate = req[Symbol.asyncIterator];
  if (req.readableEnded === true || typeof iterate !== "function") return { ok: true, text: "" };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of { [Symbol.asyncIterator]: () => iterate.call(req) }) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > maxBytes) return { ok: false, tooLarge: true };
    chunks.push(buffer);
  }
  return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
}
