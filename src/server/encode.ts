// DecisionResult -> the wire's CheckResponse.
import type { CheckResponseMessage, ExplanationMessage, PrincipalMessage } from "@verdict/sdk/wire";
import type { DecisionResult } from "../decide/index.js";
import type { Principal } from "../token/index.js";

export function encodeCheckResponse(result: DecisionResult, { explain = false }: { explain?: boolean } = {}): CheckResponseMessage {
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
    ...(explain ? { explanation: encodeExplanation(result) } : {}),
  };
}

/** Rule names are the policy's internals: only sent when the request asks (explain). */
function encodeExplanation(result: DecisionResult): ExplanationMessage {
  return {
    rules: result.explain.map((hit) => ({ kind: hit.kind, rule: hit.rule, code: hit.code, message: hit.message })),
    shadow: result.shadow
      ? {
          policy_revision: result.shadow.revision,
          decision: result.shadow.effect,
          reasons: result.shadow.reasons.map((r) => ({ code: r.code, message: r.message })),
          agrees: result.shadow.agrees,
        }
      : null,
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
