// What every console response carries, and what every console request must show:
// a strict Content-Security-Policy and no framing (clickjacking), and for the JSON
// API a bearer token verified like a Check token (same issuers, same rules, the
// console's audience) with the scope the route needs. The token travels only in
// the Authorization header, never in a URL or a cookie, so a cross-site page can
// neither send it nor read an answer (CSRF); writes also refuse cross-site fetch
// metadata and foreign Origins, and only take application/json.
import type { FastifyReply, FastifyRequest } from "fastify";
import { VerdictError } from "../../../errors/index.js";
import { TokenError, type TokenVerifier } from "../../../token/index.js";
import { hostHeaderIsLoopback } from "../../loopback.js";
import type { ConsoleScope } from "./config.js";
import type { Operator } from "./ports.js";

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function securityHeaders(reply: FastifyReply): void {
  reply
    .header("content-security-policy", CONTENT_SECURITY_POLICY)
    .header("x-frame-options", "DENY")
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("cross-origin-opener-policy", "same-origin")
    .header("cross-origin-resource-policy", "same-origin")
    .header("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()");
}

/** The error model's code for each console refusal (its HTTP status); the body's `error` is the console's own. */
const CODE_OF = { 401: "unauthenticated", 403: "permission_denied", 503: "state_unavailable" } as const;

/** A console refusal: `error` is a stable code, `reason` the token's when it did not verify. */
export class ConsoleRefusal extends VerdictError {
  constructor(
    readonly statusCode: 401 | 403 | 503,
    readonly error: "unauthenticated" | "permission_denied" | "cross_site_request" | "host_not_loopback" | "not_ready",
    message: string,
    readonly reason?: string,
  ) {
    super(CODE_OF[statusCode], message);
  }
}

/**
 * Refuses a state-changing request that a browser says comes from another site. A
 * browser's `Sec-Fetch-Site: same-origin` (no page can forge it) settles it; without
 * it, the `Origin` must name this Host. By its host only: behind the TLS-terminating
 * proxy docs/console.md asks for, the page is https while this listener is plain http,
 * and a scheme compared with `request.protocol` refused every write of the console's own.
 */
export function checkSameOrigin(request: Pick<FastifyRequest, "headers">): void {
  const site = request.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    throw new ConsoleRefusal(403, "cross_site_request", "the console's API takes writes from the console's own pages only");
  }
  if (site === "same-origin") return;
  const origin = request.headers.origin;
  if (origin !== undefined && hostOf(origin) !== (request.headers.host ?? "").toLowerCase()) {
    throw new ConsoleRefusal(403, "cross_site_request", `requests from ${origin} are not the console's own`);
  }
}

/** An Origin's host[:port], lowercased; "" for one that is not a URL (the string "null", say). */
function hostOf(origin: string): string {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return "";
  }
}

/**
 * Refuses a request whose Host header does not name this machine (localhost, 127.0.0.0/8,
 * [::1], any port). A page whose DNS name was rebound to 127.0.0.1 reaches a loopback
 * listener with its own name in Host and in Origin, which agree (checkSameOrigin passes);
 * its name is not a loopback one.
 */
export function checkLoopbackHost(request: FastifyRequest): void {
  if (!hostHeaderIsLoopback(request.headers.host)) {
    throw new ConsoleRefusal(
      403,
      "host_not_loopback",
      "the development console answers only on a loopback name or address: open it at http://127.0.0.1 or http://localhost with its port",
    );
  }
}

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/;

/** The operator a request's bearer token names, if it verifies and carries `scope`. */
export async function authenticate(request: FastifyRequest, verifier: TokenVerifier, audience: string, scope: ConsoleScope | "any"): Promise<Operator> {
  const header = request.headers.authorization;
  const match = header === undefined ? null : BEARER.exec(header);
  if (!match?.[1]) throw new ConsoleRefusal(401, "unauthenticated", "sign in: the console's API needs a bearer token", "token_missing");
  let principal;
  try {
    ({ principal } = await verifier.verify(match[1], { audience, now: Date.now() / 1000 }));
  } catch (error) {
    if (error instanceof TokenError) throw new ConsoleRefusal(401, "unauthenticated", `sign in again: ${error.message}`, error.reason);
    throw error;
  }
  // A DPoP-bound token is only good with a proof of possession, which the console's pages do not make.
  if (principal.confirmationJkt !== undefined) {
    throw new ConsoleRefusal(401, "unauthenticated", "sign in with a bearer token: this token is bound to a DPoP key", "dpop_bound_token");
  }
  const scopes = principal.scopes.filter((s) => s.startsWith("console:"));
  if (scopes.length === 0) throw new ConsoleRefusal(403, "permission_denied", "this token carries no console scope", "insufficient_scope");
  if (scope !== "any" && !scopes.includes(scope)) {
    throw new ConsoleRefusal(403, "permission_denied", `this needs the scope ${scope}`, "insufficient_scope");
  }
  return {
    subject: principal.subject,
    clientId: principal.clientId,
    issuer: principal.issuer,
    ...(principal.acr !== undefined ? { acr: principal.acr } : {}),
    ...(principal.authTime !== undefined ? { authTime: principal.authTime } : {}),
    scopes,
  };
}
