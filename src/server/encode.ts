// DecisionResult -> the wire's CheckResponse.
import type { CheckResponseMessage, PrincipalMessage } from "@verdict/sdk/wire";
import type { DecisionResult } from "../decide/index.js";
import type { Principal } from "../token/index.js";

export function encodeCheckResponse(result: DecisionResult): CheckResponseMessage {
  return {
    decision: result.decision,
    reasons: result.reasons.map((r) => ({ code: r.code, message: r.message })),
    challenge: result.challenge
      ? {
          error: result.challenge.error,
          scopes: result.challenge.scopes,
          acr_values: result.challenge.acrValues,
          ...(result.challenge.maxAge !== undefined ? { max_age: result.challenge.maxAge } : {}),
          description: result.challenge.description,
        }
      : null,
    principal: result.principal ? encodePrincipal(result.principal) : null,
    obligations: result.obligations.map((o) => ({ ...o })),
    decision_id: result.decisionId,
    policy_revision: result.policyRevision,
  };
}

export function encodePrincipal(principal: Principal): PrincipalMessage {
  return {
    subject: principal.subject,
    client_id: principal.clientId,
    client_type: principal.clientType,
    actors: principal.actors.map((actor) => ({ subject: actor.subject, client_id: actor.clientId ?? "" })),
    scopes: principal.scopes,
    acr: principal.acr ?? "",
    auth_time: principal.authTime ?? 0,
    issuer: principal.issuer,
    token_id: principal.tokenId ?? "",
    expires_at: principal.expiresAt,
    delegation_depth: principal.delegationDepth,
  };
}
