// Reading what Verdict needs from an HTTP request: the access token (RFC 6750 §2.1
// or RFC 9449 §7.1), the DPoP proof with the method and URL it must be bound to,
// and a request id. Framework-free: adapters pass plain headers, method and URL.
import type { TraceContext } from "../client.js";
import { VerdictError } from "../errors.js";

export type HttpHeaders = Record<string, string | string[] | undefined>;

export interface HttpRequestLike {
  method: string;
  /** The request target as the client sent it: path and query (Express: originalUrl; Fastify: url). */
  url: string;
  headers: HttpHeaders;
  /** Whether the connection to this process was TLS (used only without a public base URL). */
  encrypted?: boolean;
}

export type Credentials =
  | { kind: "none" }
  | { kind: "malformed_authorization" }
  | { kind: "malformed_dpop_proof" }
  | { kind: "token"; scheme: "Bearer" | "DPoP"; token: string; dpopProof?: string };

// RFC 6750 §2.1 b64token
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
// A compact JWS: three base64url segments (RFC 9449 §4.2), bounded like Verdict bounds it.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_PROOF_LENGTH = 8_192;

function single(value: string | string[] | undefined): string | undefined | null {
  if (Array.isArray(value)) return value.length === 1 ? value[0] : value.length === 0 ? undefined : null;
  return value;
}

/**
 * The access token and DPoP proof of a request. Another scheme (e.g. Basic) counts as
 * no token: RFC 6750 §3.1 answers it with a plain Bearer challenge.
 */
export function readCredentials(headers: HttpHeaders): Credentials {
  const authorization = single(headers["authorization"]);
  if (authorization === null) return { kind: "malformed_authorization" };
  if (authorization === undefined || authorization.trim() === "") return { kind: "none" };
  const match = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:[ ]+(.*))?$/.exec(authorization.trim());
  const scheme = match?.[1]?.toLowerCase();
  if (scheme !== "bearer" && scheme !== "dpop") return { kind: "none" };
  const token = match?.[2]?.trim() ?? "";
  if (!B64TOKEN.test(token)) return { kind: "malformed_authorization" };

  const dpop = single(headers["dpop"]);
  if (dpop === null) return { kind: "malformed_dpop_proof" };
  if (dpop !== undefined && (dpop.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(dpop.trim()))) return { kind: "malformed_dpop_proof" };
  return { kind: "token", scheme: scheme === "dpop" ? "DPoP" : "Bearer", token, ...(dpop !== undefined ? { dpopProof: dpop.trim() } : {}) };
}

/**
 * Validates a public base URL option ("https://api.example.com" or with a path
 * prefix the proxy strips, "https://example.com/api") once, at set-up.
 */
export function parsePublicBaseUrl(value: string | undefined): URL | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new VerdictError("verdict_invalid_options", `publicBaseUrl is not an absolute URL: ${value}`);
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new VerdictError(
      "verdict_invalid_options",
      "publicBaseUrl must be an http(s) origin, optionally with a path, without query, fragment or credentials",
    );
  }
  return url;
}

/**
 * The absolute URL the client used, for the DPoP proof's htu. With a configured
 * public base URL, that base and the request's path; without one, the request's
 * own Host header and connection (a client controls the Host header, so configure
 * the base URL in production). Undefined when no URL can be formed.
 */
export function requestUrl(request: HttpRequestLike, publicBaseUrl: URL | undefined): string | undefined {
  let target = request.url || "/";
  if (!target.startsWith("/")) {
    // absolute-form request target (RFC 9112 §3.2.2): keep only its path and query
    try {
      const parsed = new URL(target);
      target = parsed.pathname + parsed.search;
    } catch {
      return undefined;
    }
  }
  try {
    if (publicBaseUrl) return new URL(publicBaseUrl.origin + publicBaseUrl.pathname.replace(/\/+$/, "") + target).href;
    const host = single(request.headers["host"]) ?? single(request.headers[":authority"]);
    if (!host || !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return undefined;
    return new URL(`${request.encrypted ? "https" : "http"}://${host}${target}`).href;
  } catch {
    return undefined;
  }
}

/** Whether a socket (node:net or node:tls) is a TLS connection. */
export const isEncrypted = (socket: unknown): boolean => (socket as { encrypted?: unknown } | null | undefined)?.encrypted === true;

/** The caller's X-Request-Id, when Verdict can carry it (printable ASCII, at most 128 characters). */
export function readRequestId(headers: HttpHeaders): string | undefined {
  const value = single(headers["x-request-id"]);
  return value && /^[\x21-\x7e]{1,128}$/.test(value) ? value : undefined;
}

/**
 * The approval a retried request names (the Verdict-Approval header, as an
 * approval_required answer told the client); null when the header is sent more than
 * once. Otherwise passed on as sent: Verdict refuses a malformed id (400), and checks
 * that a well-formed one binds this very request.
 */
export function readApprovalId(headers: HttpHeaders): string | undefined | null {
  const value = single(headers["verdict-approval"]);
  return value === null ? null : value?.trim();
}

/** W3C traceparent: version-traceid-parentid-flags, lowercase hex. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The incoming request's W3C Trace Context, passed on to Verdict so that its spans
 * join the request's trace; undefined without a well-formed traceparent.
 */
export function readTraceContext(headers: HttpHeaders): TraceContext | undefined {
  const traceparent = single(headers["traceparent"])?.trim().toLowerCase();
  if (!traceparent || !TRACEPARENT.test(traceparent)) return undefined;
  const tracestate = single(headers["tracestate"]);
  // tracestate: at most 32 list members of printable ASCII (W3C Trace Context §3.3.1); anything else is dropped.
  return tracestate && tracestate.length <= 512 && /^[\x20-\x7e]+$/.test(tracestate) ? { traceparent, tracestate } : { traceparent };
}
