// Every reason code a decision can carry from Verdict itself or from its shipped
// policy library, in one place, shared by the server and the SDK. Codes are the
// contract (callers and tests switch on them); messages are for people. Other
// policies add their own codes (docs/policies.md), so a decision's code is a
// string; docs/reasons.md lists these, and a test keeps that table and this one
// in step.

export const TOKEN_REASONS = {
  token_missing: "No access token was sent.",
  token_too_large: "The access token is larger than the configured limit.",
  token_malformed: "The access token is not a well-formed signed JWT.",
  token_encrypted: "Encrypted tokens (JWE) are not accepted.",
  typ_invalid: "The token's typ header is not at+jwt (RFC 9068).",
  algorithm_not_allowed: "The token's signing algorithm is not allowed for its issuer.",
  header_not_allowed: "The token carries a header that is not accepted (crit, or a key embedded or referenced by URL).",
  issuer_unknown: "The token's issuer is not trusted.",
  key_not_found: "No trusted key of the issuer matches the token.",
  signature_invalid: "The token's signature does not verify.",
  audience_mismatch: "The token is not meant for the API that is asking.",
  token_expired: "The token has expired.",
  token_not_yet_valid: "The token is not valid yet.",
  token_lifetime_too_long: "The token's lifetime (exp) is longer than the configured maximum.",
  auth_time_invalid: "The token says the user authenticated in the future (auth_time).",
  claim_missing: "A required claim is missing from the token.",
  claim_type_invalid: "A claim in the token has the wrong type.",
  claim_duplicate: "The token repeats a claim or header name.",
  unknown_scope: "The token carries a scope the calling API does not know.",
  issuer_unavailable: "The issuer's keys or introspection endpoint could not be reached; try again shortly.",
  token_inactive: "The issuer says this token is not active (revoked, expired or unknown).",
  dpop_invalid: "The DPoP proof is missing or does not prove possession of the token's key for this request.",
  dpop_replayed: "This DPoP proof was already used.",
  confirmation_unsupported: "The token is bound to a key by a confirmation method Verdict cannot check (cnf without jkt, e.g. mutual TLS).",
  subject_mismatch: "The token's subject is not the subject the request names (AuthZEN).",
} as const;

export const STATE_REASONS = {
  limit_exceeded: "The request would exceed a limit.",
  rate_limited: "Too many requests in the window.",
  token_replayed: "This single-use key (e.g. a one-time token's jti) was already used.",
  state_unavailable: "Real-time state could not be read or written in time.",
} as const;

export const SUSPENSION_REASONS = {
  principal_suspended: "The agent, the user, the user's delegation to the agent, the token or its session is suspended.",
} as const;

/** Approvals kept by Verdict (docs/approvals.md): a retry that names an approval it cannot use, or one that cannot be asked for. */
export const APPROVAL_REASONS = {
  approval_pending: "The user has not decided on this request yet.",
  approval_not_found: "No approval with this id is kept for this API.",
  approval_mismatch: "The approval was given for another request (user, agent, action, resource or its details).",
  approval_used: "The approval was already used.",
  approval_refused: "The user refused this request.",
  approval_expired: "The approval expired before it was used.",
  approval_unavailable: "Approvals are not available in this Verdict.",
  approval_limit: "The agent already has as many approvals pending for this user as it may; one must be decided or expire first.",
} as const;

export const POLICY_REASONS = {
  policy_error: "The policy could not produce a valid decision.",
} as const;

export const AUDIT_REASONS = {
  audit_unavailable: "The decision could not be recorded in the audit trail; Verdict fails closed.",
  // Never in a response (the caller gets gRPC INTERNAL): only in the audit record of a Check that made no decision.
  internal_error: "An internal error; no decision was made.",
  // Never in a response (the caller gets gRPC RESOURCE_EXHAUSTED): only in the audit record of a Check refused for overload.
  overloaded:
    "Verdict had more decisions waiting (for the database or for policy evaluation) than it could take in time; no decision was made, nothing was applied.",
} as const;

/** What Verdict itself decides with, whatever the policy. */
export const VERDICT_REASONS = { ...TOKEN_REASONS, ...SUSPENSION_REASONS, ...STATE_REASONS, ...APPROVAL_REASONS, ...POLICY_REASONS, ...AUDIT_REASONS } as const;

/** The shipped policy library's own codes (policies/verdict/rules); its messages say more, from the policy. */
export const POLICY_LIBRARY_REASONS = {
  action_unknown: "The action is not one the policy knows.",
  insufficient_scope: "The token lacks a scope the action needs.",
  agent_action_forbidden: "An AI agent may not do this action.",
  amount_invalid: "The action needs a positive amount.",
  item_count_invalid: "The bulk action needs a whole number of items.",
  bulk_limit_exceeded: "An AI agent asked for too many items at once.",
  delegation_too_deep: "The token's delegation chain is too deep.",
  actor_not_allowed: "An actor of the delegation chain is not allowed.",
  single_use_needs_jti: "The action takes a single-use token, and the token has no jti.",
  step_up_required: "The action needs a stronger authentication of the user.",
  agent_step_up_required: "An AI agent doing this action needs the user's recent authentication.",
  amount_step_up_required: "An AI agent's amount needs the user's recent authentication.",
  bulk_step_up_required: "This many items need a stronger authentication of the user.",
  sensitive_data_step_up_required: "Exporting or sharing personal data needs a stronger authentication of the user.",
  authentication_too_old: "The user's authentication is too old for this action.",
  approval_required: "The action needs the user's approval of this exact request.",
  authorization_details_insufficient: "The token's authorization_details (RFC 9396) do not cover this request.",
} as const;

export const REASONS = { ...VERDICT_REASONS, ...POLICY_LIBRARY_REASONS } as const;

export type TokenReasonCode = keyof typeof TOKEN_REASONS;
export type StateReasonCode = keyof typeof STATE_REASONS;
export type SuspensionReasonCode = keyof typeof SUSPENSION_REASONS;
export type ApprovalReasonCode = keyof typeof APPROVAL_REASONS;
export type AuditReasonCode = keyof typeof AUDIT_REASONS;
export type VerdictReasonCode = keyof typeof VERDICT_REASONS;
export type PolicyLibraryReasonCode = keyof typeof POLICY_LIBRARY_REASONS;
/** Every code this table knows; a decision may also carry codes of other policies. */
export type ReasonCode = keyof typeof REASONS;

export interface Reason {
  /** Stable (docs/reasons.md); switch on this. */
  code: string;
  /** For people; may change. */
  message: string;
}

export function reason(code: ReasonCode, message: string = REASONS[code]): Reason {
  return { code, message };
}
