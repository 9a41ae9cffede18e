// Every reason code Verdict itself can put in a decision, in one place. Codes are
// the contract (callers and tests switch on them); messages are for people.
// Policies add their own codes (docs/policies.md); docs/reasons.md lists these,
// and a test keeps that table and this one in step.

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
  claim_missing: "A required claim is missing from the token.",
  claim_type_invalid: "A claim in the token has the wrong type.",
  claim_duplicate: "The token repeats a claim or header name.",
  unknown_scope: "The token carries a scope the calling API does not know.",
  issuer_unavailable: "The issuer's keys or introspection endpoint could not be reached; try again shortly.",
  token_inactive: "The issuer says this token is not active (revoked, expired or unknown).",
  dpop_invalid: "The DPoP proof is missing or does not prove possession of the token's key for this request.",
  dpop_replayed: "This DPoP proof was already used.",
  subject_mismatch: "The token's subject is not the subject the request names (AuthZEN).",
} as const;

export const STATE_REASONS = {
  limit_exceeded: "The request would exceed a limit.",
  rate_limited: "Too many requests in the window.",
  token_replayed: "This single-use key (e.g. a one-time token's jti) was already used.",
  state_unavailable: "Real-time state could not be read or written in time.",
} as const;

export const POLICY_REASONS = {
  policy_error: "The policy could not produce a valid decision.",
} as const;

export const AUDIT_REASONS = {
  audit_unavailable: "The decision could not be recorded in the audit trail; Verdict fails closed.",
  // Never in a response (the caller gets gRPC INTERNAL): only in the audit record of a Check that made no decision.
  internal_error: "An internal error; no decision was made.",
} as const;

export const REASONS = { ...TOKEN_REASONS, ...STATE_REASONS, ...POLICY_REASONS, ...AUDIT_REASONS } as const;

export type TokenReasonCode = keyof typeof TOKEN_REASONS;
export type StateReasonCode = keyof typeof STATE_REASONS;
export type AuditReasonCode = keyof typeof AUDIT_REASONS;
export type ReasonCode = keyof typeof REASONS;

export interface Reason {
  code: string;
  message: string;
}

export function reason(code: ReasonCode, message: string = REASONS[code]): Reason {
  return { code, message };
}
