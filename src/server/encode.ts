// DecisionResult -> the wire's CheckResponse. Challenges and obligations already
// have the wire's shape inside Verdict; the principal and its actors are mapped here, once.
import type { ActorMessage, BatchResultMessage, ChallengeMessage, CheckResponseMessage, ExplanationMessage, PrincipalMessage } from "@verdict/sdk/wire";
import type { BatchItemResult, Challenge, DecisionResult } from "../decide/index.js";
import { actorsOf, type ActorEntry, type Principal } from "../token/index.js";

export function encodeCheckResponse(result: DecisionResult, { explain = false }: { explain?: boolean } = {}): CheckResponseMessage {
  return {
    decision: result.decision,
    reasons: result.reasons,
    ...(result.challenge ? { challenge: encodeChallenge(result.challenge) } : {}),
    ...(result.principal ? { principal: encodePrincipal(result.principal) } : {}),
    obligations: result.obligations,
    decision_id: result.decisionId,
    policy_revision: result.policyRevision,
    ...(explain ? { explanation: encodeExplanation(result) } : {}),
    retry_after_ms: result.retryAfterMs ?? 0,
  };
}

/** proto3 has no absent strings or lists: what a challenge does not say is "", 0 or []. */
export function encodeChallenge(challenge: Challenge): ChallengeMessage {
  return {
    ...challenge,
    approval_id: challenge.approval_id ?? "",
    approval_url: challenge.approval_url ?? "",
    expires_at: challenge.expires_at ?? 0,
    authorization_details: challenge.authorization_details ?? [],
  };
}

export function encodeBatchResults(results: readonly BatchItemResult[]): BatchResultMessage[] {
  return results.map((item) => (item.ok ? { response: encodeCheckResponse(item.result) } : { error: item.error }));
}

/** Rule names are the policy's internals: only sent when the request asks (explain). */
function encodeExplanation(result: DecisionResult): ExplanationMessage {
  return {
    rules: result.explain,
    ...(result.shadow
      ? { shadow: { policy_revision: result.shadow.revision, decision: result.shadow.effect, reasons: result.shadow.reasons, agrees: result.shadow.agrees } }
      : {}),
  };
}

export function encodePrincipal(principal: Principal): PrincipalMessage {
  return {
    subject: principal.subject,
    client_id: principal.clientId,
    client_type: principal.clientType,
    actors: wireActors(actorsOf(principal)),
    scopes: principal.scopes,
    acr: principal.acr ?? "",
    auth_time: principal.authTime ?? 0,
    issuer: principal.issuer,
    token_id: principal.tokenId ?? "",
    expires_at: principal.expiresAt,
    delegation_depth: principal.delegationDepth,
    authorization_details: principal.authorizationDetails ?? [],
  };
}

/** proto3 has no absent string: an actor without a client_id sends "". */
export function wireActors(actors: readonly ActorEntry[]): ActorMessage[] {
  return actors.map((actor) => ({ subject: actor.subject, client_id: actor.client_id ?? "", issuer: actor.iss ?? "" }));
}
