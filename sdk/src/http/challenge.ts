// The one place where Verdict's answers become HTTP: status, WWW-Authenticate
// (RFC 6750, RFC 9449 §7.1, RFC 9470, RFC 9728 §5.1, draft-zehavi-oauth-rar-metadata)
// and a JSON body with the reason codes. The Express, Fastify and MCP adapters only
// copy what this returns.
import type { ApprovalRequiredChallenge, Decision, InsufficientAuthorizationChallenge, Reason, StepUp } from "../decision.js";
import type { VerdictError } from "../errors.js";
import type { JsonObject } from "../wire/index.js";

/** Why a request was not let through, before or after asking Verdict. */
export type Outcome =
  | { kind: "decision"; decision: Decision }
  /** No credentials at all (no Authorization header, or another scheme): Verdict is not asked. */
  | { kind: "no_token" }
  /** An Authorization header that names Bearer or DPoP but carries no usable token. */
  | { kind: "malformed_authorization" }
  /** A DPoP header that cannot be a proof (not a compact JWS, too long, repeated). */
  | { kind: "malformed_dpop_proof" }
  /** A request the guard cannot judge (e.g. an MCP body that is not JSON-RPC). */
  | { kind: "malformed_request"; code: string; description: string }
  /** No decision was obtained. */
  | { kind: "error"; error: VerdictError };

export interface ChallengeOptions {
  /** The scheme the client used: challenges answer in kind (RFC 9449 §7.1). Default Bearer. */
  scheme?: "Bearer" | "DPoP";
  /** RFC 9728 §5.1: the URL of the protected resource metadata, added to every challenge (MCP). */
  resourceMetadata?: string;
  /** Scopes to suggest in the challenge to a request that carried no token (MCP clients request these). */
  scope?: readonly string[];
  /** Seconds, in Retry-After when Verdict gave no decision, or denied only because its state or audit trail was unavailable (default 5). */
  retryAfterSeconds?: number;
  /**
   * The scopes the refused token already has. When given, an insufficient_scope
   * challenge names them as well as those the action lacks, and a step-up challenge
   * names them in scope: a client that re-authorizes with exactly the challenged
   * scopes (as MCP clients do) keeps what it had (MCP 2025-11-25, Scope Challenge Handling).
   */
  grantedScopes?: readonly string[];
}

export interface HttpAnswer {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: JsonObject;
}

export const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** The request header a client retries with, naming the approval an approval_required challenge gave it. */
export const APPROVAL_HEADER = "verdict-approval";

/** RFC 9110 quoted-string: escapes " and \, and drops what a header line cannot carry. */
function quoted(value: string): string {
  return `"${value.replace(/[^\t\x20-\x7e]/g, "").replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** RFC 6750 §3: error_description is printable ASCII without " and \. */
function description(value: string): string {
  return quoted(
    value
      .replace(/[^\x20-\x7e]+/g, " ")
      .replace(/ {2,}/g, " ")
      .replace(/"/g, "'")
      .replace(/\\/g, "/"),
  );
}

type Param = [name: string, value: string];

function challenge(scheme: "Bearer" | "DPoP", params: Param[], options: ChallengeOptions): string {
  const all = options.resourceMetadata !== undefined ? [...params, ["resource_metadata", quoted(options.resourceMetadata)] as Param] : params;
  return all.length === 0 ? scheme : `${scheme} ${all.map(([name, value]) => `${name}=${value}`).join(", ")}`;
}

/** An answer whose challenge names an OAuth error code and says why (the same text as the body's error_description). */
function refusal(status: number, scheme: "Bearer" | "DPoP", error: string, text: string, body: JsonObject, options: ChallengeOptions): HttpAnswer {
  return {
    status,
    headers: {
      ...JSON_TYPE,
      "www-authenticate": challenge(
        scheme,
        [
          ["error", quoted(error)],
          ["error_description", description(text)],
        ],
        options,
      ),
    },
    body,
  };
}

const reasonsBody = (reasons: Reason[]) => reasons.map((r) => ({ code: r.code, message: r.message }));

const JSON_TYPE = { "content-type": "application/json; charset=utf-8" };

/**
 * The HTTP answer for an outcome, or null for an ALLOW (let the request through).
 *
 * | Verdict says                      | status | WWW-Authenticate                                            |
 * | token invalid                     | 401    | Bearer error="invalid_token", error_description="…"          |
 * | DPoP proof invalid                | 401    | DPoP error="invalid_dpop_proof", error_description="…"       |
 * | scope missing                     | 403    | Bearer error="insufficient_scope", scope="…" (with grantedScopes: those too) |
 * | step-up needed                    | 401    | Bearer error="insufficient_user_authentication", acr_values="…", max_age=… |
 * | a person's approval needed        | 403    | Bearer error="approval_required", approval_id="…", approval_url="…" (retry with Verdict-Approval) |
 * | RFC 9396 details needed           | 401    | Bearer error="insufficient_authorization", authorization_remediation=… |
 * | policy deny                       | 403    | none                                                         |
 * | principal suspended               | 403    | none; error_description says what is suspended, until when   |
 * | rate limited                      | 429    | none; Retry-After when Verdict says when the window frees room |
 * | state or audit unavailable only   | 503    | none; Retry-After (a DENY all the same: fail closed)         |
 * | the policy failed only            | 500    | none (a DENY all the same: fail closed; Verdict's fault, not the caller's) |
 * | no decision (unreachable, …)      | 503    | none; Retry-After                                            |
 * | no token sent                     | 401    | Bearer (no error code, RFC 6750 §3.1)                        |
 */
export function toHttpAnswer(outcome: Outcome, options: ChallengeOptions = {}): HttpAnswer | null {
  const scheme = options.scheme ?? "Bearer";
  switch (outcome.kind) {
    case "decision":
      return decisionAnswer(outcome.decision, scheme, options);
    case "no_token": {
      const params: Param[] = options.scope && options.scope.length > 0 ? [["scope", quoted(options.scope.join(" "))]] : [];
      return {
        status: 401,
        headers: { ...JSON_TYPE, "www-authenticate": challenge("Bearer", params, options) },
        body: {
          error: "unauthorized",
          error_description: "An access token is required.",
          reasons: [{ code: "token_missing", message: "No access token was sent." }],
        },
      };
    }
    case "malformed_authorization": {
      const text = "The Authorization header must be: Bearer <token> (or DPoP <token>).";
      return refusal(
        400,
        scheme,
        "invalid_request",
        text,
        { error: "invalid_request", error_description: text, reasons: [{ code: "authorization_malformed", message: text }] },
        options,
      );
    }
    case "malformed_dpop_proof": {
      const text = "The DPoP header is not a single DPoP proof.";
      return refusal(
        401,
        "DPoP",
        "invalid_dpop_proof",
        text,
        { error: "invalid_dpop_proof", error_description: text, reasons: [{ code: "dpop_invalid", message: text }] },
        options,
      );
    }
    case "malformed_request":
      return {
        status: 400,
        headers: { ...JSON_TYPE },
        body: { error: "invalid_request", error_description: outcome.description, reasons: [{ code: outcome.code, message: outcome.description }] },
      };
    case "error":
      return errorAnswer(outcome.error, options);
  }
}

function decisionAnswer(decision: Decision, scheme: "Bearer" | "DPoP", options: ChallengeOptions): HttpAnswer | null {
  if (decision.decision === "ALLOW") return null;
  const common = { decision: decision.decision, reasons: reasonsBody(decision.reasons), ...(decision.decisionId ? { decision_id: decision.decisionId } : {}) };
  if (decision.decision === "STEP_UP") {
    const stepUp = { ...common, decision: decision.decision };
    if (decision.challenge.error === "approval_required") return approvalAnswer(decision.challenge, scheme, options, stepUp);
    if (decision.challenge.error === "insufficient_authorization") return authorizationDetailsAnswer(decision.challenge, scheme, options, stepUp);
    const c = decision.challenge;
    const granted = options.grantedScopes ?? [];
    const params: Param[] = [
      ["error", quoted(c.error)],
      ["error_description", description(c.description || "A stronger or more recent authentication is required.")],
      ["acr_values", quoted(c.acrValues.join(" "))],
      ...(c.maxAge !== undefined ? [["max_age", String(c.maxAge)] as Param] : []),
      ...(granted.length > 0 ? [["scope", quoted(granted.join(" "))] as Param] : []),
    ];
    return {
      status: 401,
      headers: { ...JSON_TYPE, "www-authenticate": challenge(scheme, params, options) },
      body: {
        error: c.error,
        error_description: c.description,
        acr_values: c.acrValues.join(" "),
        ...(c.maxAge !== undefined ? { max_age: c.maxAge } : {}),
        ...common,
      },
    };
  }
  const c = decision.challenge;
  if (!c) {
    // A rule, a limit, unavailable state, a suspension: another token would not help, so no challenge.
    // Refused for a rate limit's window (Verdict says how long it stays full), or only because Verdict
    // could not reach its state, keep the record or ask the token's issuer: the same request may pass
    // later, which 429 and 503 say where a 403 would say it never will.
    if (decision.retryAfterMs !== undefined || onlyReasons(decision, RATE_REASONS)) return tooManyRequests(decision.retryAfterMs, common);
    if (onlyReasons(decision, UNAVAILABLE_REASONS)) return temporarilyUnavailable(options, common);
    // The policy failed (a broken bundle, an evaluation error): a fault of the service, which a 403 would hide from
    // the API's error rates and tell the client that its request is forbidden.
    if (onlyReasons(decision, POLICY_FAILED_REASONS)) return { status: 500, headers: { ...JSON_TYPE }, body: { error: "server_error", ...common } };
    // A suspension says in error_description what is suspended and until when (docs/suspensions.md).
    const suspended = decision.reasons.find((r) => r.code === "principal_suspended");
    return {
      status: 403,
      headers: { ...JSON_TYPE },
      body: { error: "access_denied", ...(suspended ? { error_description: suspended.message } : {}), ...common },
    };
  }
  // A Verdict before 2026-12-07 sent issuer_unavailable with an invalid_token challenge: the token is not known to
  // be bad (a client told so would throw it away and sign in again), and the same request may pass later.
  if (onlyReasons(decision, UNAVAILABLE_REASONS)) return temporarilyUnavailable(options, common);
  switch (c.error) {
    case "invalid_token":
      return refusal(
        401,
        scheme,
        c.error,
        c.description || "The access token is not valid.",
        { error: c.error, error_description: c.description, ...common },
        options,
      );
    case "invalid_dpop_proof":
      return refusal(
        401,
        "DPoP",
        c.error,
        c.description || "The DPoP proof is not valid.",
        { error: c.error, error_description: c.description, ...common },
        options,
      );
    case "insufficient_scope": {
      const scope = [...new Set([...(options.grantedScopes ?? []), ...c.scopes])].join(" ");
      const params: Param[] = [
        ["error", quoted(c.error)],
        ["error_description", description(c.description || "The token lacks a scope this action needs.")],
        ["scope", quoted(scope)],
      ];
      return {
        status: 403,
        headers: { ...JSON_TYPE, "www-authenticate": challenge(scheme, params, options) },
        body: { error: c.error, error_description: c.description, scope, ...common },
      };
    }
  }
}

type Common = { decision: StepUp["decision"]; reasons: { code: string; message: string }[]; decision_id?: string };

/** draft-zehavi-oauth-rar-metadata §4: the remediation object, base64url JSON, in one auth-param. */
function remediation(authorizationDetails: readonly JsonObject[]): Param[] {
  if (authorizationDetails.length === 0) return [];
  return [["authorization_remediation", Buffer.from(JSON.stringify({ authorization_details: authorizationDetails }), "utf8").toString("base64url")]];
}

/**
 * A person must approve this very request. 403, not 401: the token is fine and stays
 * the one to retry with (a 401 would send OAuth clients to fetch another), as with
 * insufficient_scope (RFC 6750 §3.1) the challenge says what is missing.
 */
function approvalAnswer(c: ApprovalRequiredChallenge, scheme: "Bearer" | "DPoP", options: ChallengeOptions, common: Common): HttpAnswer {
  const text = c.description || "A person must approve this request; retry it naming the approval once they have.";
  const params: Param[] = [
    ["error", quoted(c.error)],
    ["error_description", description(text)],
    ...(c.approvalId !== undefined ? [["approval_id", quoted(c.approvalId)] as Param, ["approval_url", quoted(c.approvalUrl ?? "")] as Param] : []),
    ...remediation(c.authorizationDetails),
  ];
  const approval: JsonObject =
    c.approvalId !== undefined ? { approval: { id: c.approvalId, url: c.approvalUrl ?? "", expires_at: c.expiresAt ?? 0, retry_header: APPROVAL_HEADER } } : {};
  return {
    status: 403,
    headers: { ...JSON_TYPE, "www-authenticate": challenge(scheme, params, options) },
    body: {
      error: c.error,
      error_description: text,
      ...approval,
      ...(c.authorizationDetails.length > 0 ? { authorization_details: c.authorizationDetails } : {}),
      ...common,
    },
  };
}

/** The token lacks RFC 9396 authorization details: 401, the client fetches a token with these (draft-zehavi-oauth-rar-metadata). */
function authorizationDetailsAnswer(c: InsufficientAuthorizationChallenge, scheme: "Bearer" | "DPoP", options: ChallengeOptions, common: Common): HttpAnswer {
  const text = c.description || "The access token lacks the authorization details this request needs.";
  const params: Param[] = [
    ["error", quoted(c.error)],
    ["error_description", description(text)],
    ...(c.acrValues.length > 0 ? [["acr_values", quoted(c.acrValues.join(" "))] as Param] : []),
    ...(c.maxAge !== undefined ? [["max_age", String(c.maxAge)] as Param] : []),
    ...remediation(c.authorizationDetails),
  ];
  return {
    status: 401,
    headers: { ...JSON_TYPE, "www-authenticate": challenge(scheme, params, options) },
    body: {
      error: c.error,
      error_description: text,
      authorization_details: c.authorizationDetails,
      ...(c.acrValues.length > 0 ? { acr_values: c.acrValues.join(" ") } : {}),
      ...(c.maxAge !== undefined ? { max_age: c.maxAge } : {}),
      ...common,
    },
  };
}

function errorAnswer(error: VerdictError, options: ChallengeOptions): HttpAnswer {
  const reasons = [{ code: error.code, message: publicMessage(error) }];
  if (error.code === "verdict_invalid_argument") {
    return { status: 400, headers: { ...JSON_TYPE }, body: { error: "invalid_request", error_description: publicMessage(error), reasons } };
  }
  // Fail closed: no decision is never an allow. No challenge: no token would help.
  return temporarilyUnavailable(options, { reasons }, error.retryAfterMs);
}

/** Reasons of a DENY that say only that the window's rate is used up. */
const RATE_REASONS: ReadonlySet<string> = new Set(["rate_limited"]);
/** Reasons of a DENY that say only that Verdict could not reach its state, keep the decision's record or ask the token's issuer: fail closed, for now. */
const UNAVAILABLE_REASONS: ReadonlySet<string> = new Set(["state_unavailable", "audit_unavailable", "issuer_unavailable"]);
/** Reasons of a DENY only because the policy could not decide. */
const POLICY_FAILED_REASONS: ReadonlySet<string> = new Set(["policy_error"]);

function onlyReasons(decision: Decision, codes: ReadonlySet<string>): boolean {
  return decision.reasons.length > 0 && decision.reasons.every((r) => codes.has(r.code));
}

/**
 * Verdict's retry_after_ms (a rate's) or pushback (an overload's) as HTTP's Retry-After:
 * whole seconds, rounded up (never sooner than Verdict said); the MCP guard's words say
 * the same. Not exported by the package: its `retryAfterSeconds` option is the 503's
 * Retry-After when Verdict said nothing.
 */
export function wholeSecondsToRetry(retryAfterMs: number): number {
  return Math.ceil(retryAfterMs / 1000);
}

/** 429, with Retry-After when Verdict said when the window frees room. */
function tooManyRequests(retryAfterMs: number | undefined, body: JsonObject): HttpAnswer {
  const headers: Record<string, string> = { ...JSON_TYPE };
  if (retryAfterMs !== undefined) headers["retry-after"] = String(wholeSecondsToRetry(retryAfterMs));
  return { status: 429, headers, body: { error: "too_many_requests", ...body } };
}

/**
 * 503 with Retry-After: no decision, or a DENY only for Verdict's own unavailable state
 * or trail. Its seconds are what an overloaded Verdict asked for (`retryAfterMs`), else
 * the option's.
 */
function temporarilyUnavailable(options: ChallengeOptions, body: JsonObject, retryAfterMs?: number): HttpAnswer {
  const retryAfter = retryAfterMs !== undefined ? wholeSecondsToRetry(retryAfterMs) : (options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS);
  return {
    status: 503,
    headers: { ...JSON_TYPE, "retry-after": String(Math.max(0, Math.ceil(retryAfter))) },
    body: { error: "temporarily_unavailable", error_description: "Authorization is temporarily unavailable; retry later.", ...body },
  };
}

/** What the client is told; the VerdictError's own message (for the API's logs) may say more. */
function publicMessage(error: VerdictError): string {
  switch (error.code) {
    case "verdict_invalid_argument":
      return "The request cannot be authorized as sent (a value is too large or malformed).";
    case "verdict_deadline_exceeded":
      return "The authorization service did not answer in time.";
    case "verdict_unavailable":
    case "verdict_client_closed":
      return "The authorization service is unavailable.";
    default:
      return "The authorization service gave no usable answer.";
  }
}
