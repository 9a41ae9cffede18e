// RFC 9068 §2.2 / RFC 8725 claim rules, applied on every use of a token (fresh,
// cached or introspected): presence, JSON types, issuer, audience, time.
import { TokenError } from "./errors.js";

export interface ClaimRules {
  issuer: string;
  /** The calling API's audience; the token's aud must include it. */
  audience: string;
  /** Seconds since the epoch. */
  now: number;
  skewSeconds: number;
  /** The longest a token may live: exp at most this far after now (and after iat). */
  maxLifetimeSeconds: number;
  /** Claims that must be present (iat and jti are optional for introspected tokens). */
  required: readonly ("iat" | "jti")[];
}

const STRINGS = ["sub", "client_id"] as const;

export function checkClaims(claims: Record<string, unknown>, rules: ClaimRules): void {
  const iss = claims["iss"];
  if (iss === undefined) throw new TokenError("claim_missing", "The token has no iss claim.");
  if (typeof iss !== "string") throw new TokenError("claim_type_invalid", "The iss claim must be a string.");
  if (iss !== rules.issuer) throw new TokenError("issuer_unknown");

  for (const name of STRINGS) requireString(claims, name);
  if (rules.required.includes("jti") || claims["jti"] !== undefined) requireString(claims, "jti");

  // In whole seconds, as the principal carries it (principal.ts): accepted no longer than a single-use key is kept.
  const exp = Math.floor(requireNumber(claims, "exp"));
  const iat = rules.required.includes("iat") || claims["iat"] !== undefined ? requireNumber(claims, "iat") : undefined;
  const nbf = claims["nbf"] !== undefined ? requireNumber(claims, "nbf") : undefined;

  const aud = claims["aud"];
  if (aud === undefined) throw new TokenError("claim_missing", "The token has no aud claim.");
  const audiences = typeof aud === "string" ? [aud] : aud;
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every((a) => typeof a === "string")) {
    throw new TokenError("claim_type_invalid", "The aud claim must be a string or an array of strings.");
  }
  if (!audiences.includes(rules.audience)) throw new TokenError("audience_mismatch");

  if (rules.now > exp + rules.skewSeconds) throw new TokenError("token_expired");
  if (nbf !== undefined && nbf > rules.now + rules.skewSeconds) throw new TokenError("token_not_yet_valid");
  if (iat !== undefined && iat > rules.now + rules.skewSeconds) throw new TokenError("token_not_yet_valid", "The token was issued in the future.");
  // An exp far away (1e300 is a finite number) would outlive every key kept for the token.
  if (exp > rules.now + rules.maxLifetimeSeconds + rules.skewSeconds || (iat !== undefined && exp - iat > rules.maxLifetimeSeconds)) {
    throw new TokenError("token_lifetime_too_long");
  }
  // A future auth_time would satisfy every max_age step-up; one before 1970 is no time anyone signed in (and -1e19
  // does not fit the answer's int64: its Check was decided and applied, then failed as it could not be answered).
  if (claims["auth_time"] !== undefined) {
    const authTime = requireNumber(claims, "auth_time");
    if (authTime > rules.now + rules.skewSeconds) throw new TokenError("auth_time_invalid");
    if (authTime < 0) throw new TokenError("auth_time_invalid", "The auth_time claim is before 1970.");
  }
}

function requireString(claims: Record<string, unknown>, name: string): string {
  const value = claims[name];
  if (value === undefined) throw new TokenError("claim_missing", `The token has no ${name} claim.`);
  if (typeof value !== "string" || value.length === 0) throw new TokenError("claim_type_invalid", `The ${name} claim must be a non-empty string.`);
  return value;
}

function requireNumber(claims: Record<string, unknown>, name: string): number {
  const value = claims[name];
  if (value === undefined) throw new TokenError("claim_missing", `The token has no ${name} claim.`);
  if (typeof value !== "number" || !Number.isFinite(value)) throw new TokenError("claim_type_invalid", `The ${name} claim must be a number.`);
  return value;
}
