// Typed decisions, and the one place where a wire response becomes one. A
// response that does not fit (an unknown decision, an ALLOW without a principal, a
// STEP_UP without its challenge, a challenge the SDK cannot express) is a
// VerdictError, never a decision: nothing downstream can mistake it for an allow.
import { VerdictError } from "./errors.js";
import type { Reason } from "./reasons.js";
import {
  isJsonObject,
  type BatchResultMessage,
  type ChallengeMessage,
  type CheckResponseMessage,
  type JsonObject,
  type ObligationMessage,
  type PrincipalMessage,
  type ReasonMessage,
  type ReleaseResponseMessage,
} from "./wire/index.js";

export type { Reason } from "./reasons.js";

export interface Actor {
  subject: string;
  clientId?: string;
  /** The act claim's iss (RFC 8693): the issuer the subject is from, when the token named one. */
  issuer?: string;
}

/** Who is asking, as Verdict verified it from the token. */
export interface Principal {
  /** The user (or service) the token is for: scope the API's own queries by this. */
  subject: string;
  /** The client (e.g. the AI agent) presenting the token. */
  clientId: string;
  clientType?: string;
  /** The RFC 8693 act chain, the current actor first. */
  actors: Actor[];
  delegationDepth: number;
  scopes: string[];
  acr?: string;
  /** Epoch seconds. */
  authTime?: number;
  issuer: string;
  tokenId?: string;
  /** Epoch seconds. */
  expiresAt: number;
  /** RFC 9396: what the user authorized, as the token carries it. */
  authorizationDetails?: JsonObject[];
}

/** What Verdict enforced for an ALLOW (budget reserved, key consumed, rate counted). */
export interface Obligation {
  type: string;
  key: string;
  amount: number;
  limit: number;
  window: string;
  /** The counter's total after this decision. */
  total: number;
  /** Facts particular to the obligation's type (absent for reserve, rate and once). */
  details?: JsonObject;
}

export interface InvalidTokenChallenge {
  error: "invalid_token";
  /** Safe to show to the client. */
  description: string;
}

/** RFC 9449 §7.1: the DPoP proof is missing or wrong. */
export interface InvalidDpopProofChallenge {
  error: "invalid_dpop_proof";
  description: string;
}

export interface InsufficientScopeChallenge {
  error: "insufficient_scope";
  /** Every scope the action needs. */
  scopes: string[];
  description: string;
}

/** RFC 9470: a stronger or more recent authentication of the user is needed. */
export interface StepUpChallenge {
  error: "insufficient_user_authentication";
  acrValues: string[];
  /** Seconds; present only when the policy sets one. */
  maxAge?: number;
  description: string;
}

/**
 * Verdict keeps an approval for this request: the person approves (or refuses) it at
 * approvalUrl, with a token of their own; the client then retries the same request
 * naming approvalId, which is used once.
 */
export interface ApprovalRequiredChallenge {
  error: "approval_required";
  /** Absent in a dry run (nothing was recorded). */
  approvalId?: string;
  approvalUrl?: string;
  /** Epoch seconds. */
  expiresAt?: number;
  /** RFC 9396 details the client may obtain from its authorization server instead (a CIBA or redirect flow). */
  authorizationDetails: JsonObject[];
  description: string;
}

/**
 * The token lacks the RFC 9396 authorization details this request needs: the client
 * obtains a token with exactly these (insufficient_authorization, draft-zehavi-oauth-rar-metadata).
 */
export interface InsufficientAuthorizationChallenge {
  error: "insufficient_authorization";
  authorizationDetails: JsonObject[];
  /** Also asked for, when the policy needs an authentication level with them. */
  acrValues: string[];
  maxAge?: number;
  description: string;
}

export type DenyChallenge = InvalidTokenChallenge | InvalidDpopProofChallenge | InsufficientScopeChallenge;
/** What a STEP_UP asks for: a stronger authentication, a person's approval, or authorization details. */
export type StepUpDecisionChallenge = StepUpChallenge | ApprovalRequiredChallenge | InsufficientAuthorizationChallenge;
export type Challenge = DenyChallenge | StepUpDecisionChallenge;

interface DecisionCommon {
  reasons: Reason[];
  decisionId: string;
  /** The policy bundle revision that decided. */
  policyRevision: string;
}

export interface Allow extends DecisionCommon {
  decision: "ALLOW";
  principal: Principal;
  obligations: Obligation[];
}

export interface Deny extends DecisionCommon {
  decision: "DENY";
  /** Absent for a policy deny that no other token would change (a rule, a limit, unavailable state). */
  challenge?: DenyChallenge;
  /** Absent when the token itself was refused. */
  principal?: Principal;
  /**
   * A rate limit's window is full: milliseconds until the same request would fit in
   * it if nothing else were counted meanwhile (toHttpAnswer's Retry-After). Absent on
   * every other deny.
   */
  retryAfterMs?: number;
}

export interface StepUp extends DecisionCommon {
  decision: "STEP_UP";
  challenge: StepUpDecisionChallenge;
  principal?: Principal;
}

export type Decision = Allow | Deny | StepUp;

export type BatchItemResult = { ok: true; decision: Decision } | { ok: false; error: Reason };

export type ReleaseStatus = "released" | "already_released" | "unknown_decision";

export interface ReleaseResult {
  status: ReleaseStatus;
  /** What this call gave back (empty unless status is released). */
  released: Obligation[];
}

function malformed(why: string): VerdictError {
  return new VerdictError("verdict_malformed_response", `Verdict's response does not fit the contract: ${why}`);
}

const isString = (value: unknown): value is string => typeof value === "string";
const isNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

function strings(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every(isString)) throw malformed(`${where} is not a list of strings`);
  return [...value];
}

function toReason(value: ReasonMessage | undefined, where: string): Reason {
  if (!value || !isString(value.code) || value.code === "" || !isString(value.message)) throw malformed(`${where} has no code`);
  return { code: value.code, message: value.message };
}

function toReasons(value: unknown): Reason[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw malformed("reasons is not a list");
  return value.map((reason, i) => toReason(reason as ReasonMessage, `reasons[${i}]`));
}

function toObligations(value: unknown, where: string): Obligation[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw malformed(`${where} is not a list`);
  return value.map((raw: ObligationMessage, i) => {
    if (!isString(raw?.type) || !isString(raw.key) || !isString(raw.window) || ![raw.amount, raw.limit, raw.total].every(isNumber)) {
      throw malformed(`${where}[${i}] is incomplete`);
    }
    const details: unknown = raw.details;
    return {
      type: raw.type,
      key: raw.key,
      amount: raw.amount,
      limit: raw.limit,
      window: raw.window,
      total: raw.total,
      ...(isJsonObject(details) ? { details } : {}),
    };
  });
}

const optional = (value: string): string | undefined => (value === "" ? undefined : value);

function toPrincipal(value: PrincipalMessage | null | undefined): Principal | undefined {
  if (value === null || value === undefined) return undefined;
  if (!isString(value.subject) || value.subject === "") throw malformed("principal has no subject");
  if (!isString(value.client_id) || !isString(value.issuer) || !isNumber(value.expires_at)) throw malformed("principal is incomplete");
  if (!Array.isArray(value.actors)) throw malformed("principal.actors is not a list");
  const actors = value.actors.map((actor, i) => {
    if (!isString(actor?.subject) || actor.subject === "") throw malformed(`principal.actors[${i}] has no subject`);
    const clientId = isString(actor.client_id) ? optional(actor.client_id) : undefined;
    const issuer = isString(actor.issuer) ? optional(actor.issuer) : undefined;
    return { subject: actor.subject, ...(clientId !== undefined ? { clientId } : {}), ...(issuer !== undefined ? { issuer } : {}) };
  });
  const principal: Principal = {
    subject: value.subject,
    clientId: value.client_id,
    actors,
    delegationDepth: isNumber(value.delegation_depth) ? value.delegation_depth : actors.length,
    scopes: strings(value.scopes ?? [], "principal.scopes"),
    issuer: value.issuer,
    expiresAt: value.expires_at,
  };
  // proto3 sends absent strings as "" and absent numbers as 0
  if (isString(value.client_type) && value.client_type !== "") principal.clientType = value.client_type;
  if (isString(value.acr) && value.acr !== "") principal.acr = value.acr;
  if (isNumber(value.auth_time) && value.auth_time > 0) principal.authTime = value.auth_time;
  if (isString(value.token_id) && value.token_id !== "") principal.tokenId = value.token_id;
  const details = jsonObjects(value.authorization_details, "principal.authorization_details");
  if (details.length > 0) principal.authorizationDetails = details;
  return principal;
}

function jsonObjects(value: unknown, where: string): JsonObject[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every(isJsonObject)) throw malformed(`${where} is not a list of objects`);
  return value;
}

function maxAgeOf(value: ChallengeMessage): { maxAge?: number } {
  const maxAge = value.max_age;
  if (maxAge !== undefined && maxAge !== null && !(Number.isInteger(maxAge) && maxAge >= 0))
    throw malformed("challenge.max_age is not a whole number of seconds");
  return typeof maxAge === "number" ? { maxAge } : {};
}

function toChallenge(value: ChallengeMessage): Challenge {
  const description = isString(value.description) ? value.description : "";
  switch (value.error) {
    case "invalid_token":
    case "invalid_dpop_proof":
      return { error: value.error, description };
    case "insufficient_scope": {
      const scopes = strings(value.scopes, "challenge.scopes");
      if (scopes.length === 0) throw malformed("an insufficient_scope challenge names no scope");
      return { error: "insufficient_scope", scopes, description };
    }
    case "insufficient_user_authentication": {
      const acrValues = strings(value.acr_values, "challenge.acr_values");
      if (acrValues.length === 0) throw malformed("a step-up challenge names no acr_values");
      return { error: "insufficient_user_authentication", acrValues, ...maxAgeOf(value), description };
    }
    case "approval_required": {
      const id = isString(value.approval_id) ? value.approval_id : "";
      const url = isString(value.approval_url) ? value.approval_url : "";
      if ((id === "") !== (url === "")) throw malformed("an approval_required challenge names an approval without its URL, or a URL without its approval");
      if (id !== "" && !(isNumber(value.expires_at) && value.expires_at > 0)) throw malformed("an approval_required challenge has no expiry");
      return {
        error: "approval_required",
        ...(id !== "" ? { approvalId: id, approvalUrl: url, expiresAt: value.expires_at } : {}),
        authorizationDetails: jsonObjects(value.authorization_details, "challenge.authorization_details"),
        description,
      };
    }
    case "insufficient_authorization": {
      const authorizationDetails = jsonObjects(value.authorization_details, "challenge.authorization_details");
      if (authorizationDetails.length === 0) throw malformed("an insufficient_authorization challenge names no authorization_details");
      return {
        error: "insufficient_authorization",
        authorizationDetails,
        acrValues: strings(value.acr_values ?? [], "challenge.acr_values"),
        ...maxAgeOf(value),
        description,
      };
    }
    default:
      throw malformed(`unknown challenge error ${JSON.stringify(value.error)}`);
  }
}

const STEP_UP_ERRORS: readonly string[] = [
  "insufficient_user_authentication",
  "approval_required",
  "insufficient_authorization",
] satisfies StepUpDecisionChallenge["error"][];

function isStepUpChallenge(challenge: Challenge): challenge is StepUpDecisionChallenge {
  return STEP_UP_ERRORS.includes(challenge.error);
}

/** proto3 sends an absent number as 0. */
function retryAfterOf(response: CheckResponseMessage): { retryAfterMs?: number } {
  const value: unknown = response.retry_after_ms;
  if (value === undefined || value === null || value === 0) return {};
  if (!(Number.isSafeInteger(value) && (value as number) > 0)) throw malformed("retry_after_ms is not a positive whole number of milliseconds");
  return { retryAfterMs: value as number };
}

/** A CheckResponse as decoded from the wire → a Decision, or a verdict_malformed_response error. */
export function toDecision(response: CheckResponseMessage | null | undefined): Decision {
  if (!response || typeof response !== "object") throw malformed("no response");
  const reasons = toReasons(response.reasons);
  const decisionId = isString(response.decision_id) ? response.decision_id : "";
  const policyRevision = isString(response.policy_revision) ? response.policy_revision : "";
  const principal = toPrincipal(response.principal);
  const challenge = response.challenge ? toChallenge(response.challenge) : undefined;
  const common = { reasons, decisionId, policyRevision };
  switch (response.decision) {
    case "ALLOW":
      if (!principal) throw malformed("ALLOW without a principal");
      if (decisionId === "") throw malformed("ALLOW without a decision_id");
      if (challenge) throw malformed("ALLOW with a challenge");
      return { decision: "ALLOW", ...common, principal, obligations: toObligations(response.obligations, "obligations") };
    case "DENY":
      if (challenge && isStepUpChallenge(challenge)) throw malformed("DENY with a step-up challenge");
      return { decision: "DENY", ...common, ...(challenge ? { challenge } : {}), ...(principal ? { principal } : {}), ...retryAfterOf(response) };
    case "STEP_UP":
      if (!challenge || !isStepUpChallenge(challenge))
        throw malformed("STEP_UP without an insufficient_user_authentication, approval_required or insufficient_authorization challenge");
      return { decision: "STEP_UP", ...common, challenge, ...(principal ? { principal } : {}) };
    default:
      // DECISION_UNSPECIFIED, or a number protobufjs could not name: never an allow.
      throw malformed(`unknown decision ${JSON.stringify(response.decision)}`);
  }
}

/** CheckBatch results → one result per item, in order; the count must match the request's. */
export function toBatchResults(results: BatchResultMessage[] | null | undefined, expected: number): BatchItemResult[] {
  if (!Array.isArray(results)) throw malformed("results is not a list");
  if (results.length !== expected) throw malformed(`${results.length} results for ${expected} items`);
  return results.map((result, i) => {
    if (result?.response) return { ok: true, decision: toDecision(result.response) };
    if (result?.error) return { ok: false, error: toReason(result.error, `results[${i}].error`) };
    throw malformed(`results[${i}] holds neither a response nor an error`);
  });
}

const RELEASE_STATUSES: readonly string[] = ["released", "already_released", "unknown_decision"] satisfies ReleaseStatus[];

export function toReleaseResult(response: ReleaseResponseMessage | null | undefined): ReleaseResult {
  if (!response || !RELEASE_STATUSES.includes(response.status)) throw malformed(`unknown release status ${JSON.stringify(response?.status)}`);
  return { status: response.status as ReleaseStatus, released: toObligations(response.released, "released") };
}
