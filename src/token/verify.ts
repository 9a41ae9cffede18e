// Access token verification (RFC 9068, RFC 8725): every rule a token must pass
// before any of its claims is believed. Failures are TokenErrors with stable codes.
import { createHash } from "node:crypto";
import { errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { TokenError } from "./errors.js";
import type { IssuerRegistry } from "./issuers.js";
import { principalFromClaims, type Principal } from "./principal.js";

export interface VerifierOptions {
  clockSkewSeconds: number;
  maxBytes: number;
}

export interface VerifiedToken {
  principal: Principal;
  claims: JWTPayload;
  /** Hex SHA-256 of the whole token: what logs and records may carry instead of it. */
  tokenHash: string;
}

const ACCESS_TOKEN_TYPES = new Set(["at+jwt", "application/at+jwt"]);
const REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub", "client_id", "jti"];

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export class TokenVerifier {
  constructor(
    private readonly issuers: IssuerRegistry,
    private readonly options: VerifierOptions,
  ) {}

  /**
   * Verifies `token` for the API whose audience is `audience` (the caller's, never
   * one the request names). `now` is in seconds.
   */
  async verify(token: string, audience: string, now: number = Date.now() / 1000): Promise<VerifiedToken> {
    if (token.length === 0) throw new TokenError("token_missing");
    if (Buffer.byteLength(token, "utf8") > this.options.maxBytes) throw new TokenError("token_too_large");

    const parts = token.split(".");
    if (parts.length === 5) throw new TokenError("token_encrypted");
    if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]*$/.test(part))) throw new TokenError("token_malformed");
    const header = decodeSegment(parts[0] as string, "header");
    const unverified = decodeSegment(parts[1] as string, "payload");

    const alg = header["alg"];
    if (typeof alg !== "string") throw new TokenError("token_malformed", "The token header has no alg.");
    const typ = header["typ"];
    if (typeof typ !== "string" || !ACCESS_TOKEN_TYPES.has(typ.toLowerCase())) throw new TokenError("typ_invalid");

    const iss = unverified["iss"];
    if (iss === undefined) throw new TokenError("claim_missing", "The token has no iss claim.");
    if (typeof iss !== "string") throw new TokenError("claim_type_invalid", "The iss claim must be a string.");
    const issuer = this.issuers.find(iss);
    if (!issuer) throw new TokenError("issuer_unknown");
    if (!issuer.algorithms.includes(alg)) throw new TokenError("algorithm_not_allowed");

    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, issuer.keys, {
        issuer: issuer.issuer,
        audience,
        algorithms: [...issuer.algorithms],
        clockTolerance: this.options.clockSkewSeconds,
        currentDate: new Date(now * 1000),
        requiredClaims: REQUIRED_CLAIMS,
      }));
    } catch (error) {
      throw fromJoseError(error);
    }
    // jose checks that iat is a number but not that it is not in the future.
    if (typeof claims.iat === "number" && claims.iat > now + this.options.clockSkewSeconds) {
      throw new TokenError("token_not_yet_valid", "The token was issued in the future.");
    }
    return { principal: principalFromClaims(claims), claims, tokenHash: sha256Hex(token) };
  }
}

function decodeSegment(segment: string, what: "header" | "payload"): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
  } catch {
    throw new TokenError("token_malformed", `The token ${what} is not base64url-encoded JSON.`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TokenError("token_malformed", `The token ${what} is not a JSON object.`);
  }
  return value as Record<string, unknown>;
}

/** Maps jose's typed errors (by their stable codes) onto Verdict's reasons. */
function fromJoseError(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.reason === "missing") return new TokenError("claim_missing", `The token has no ${error.claim} claim.`);
    if (error.reason === "invalid") return new TokenError("claim_type_invalid", `The ${error.claim} claim has the wrong type.`);
    switch (error.claim) {
      case "aud":
        return new TokenError("audience_mismatch");
      case "nbf":
      case "iat":
        return new TokenError("token_not_yet_valid");
      case "iss":
        return new TokenError("issuer_unknown");
      default:
        return new TokenError("claim_type_invalid", `The ${error.claim} claim is not acceptable.`);
    }
  }
  if (error instanceof joseErrors.JOSEError) {
    switch (error.code) {
      case "ERR_JWT_EXPIRED":
        return new TokenError("token_expired");
      case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
        return new TokenError("signature_invalid");
      case "ERR_JOSE_ALG_NOT_ALLOWED":
        return new TokenError("algorithm_not_allowed");
      case "ERR_JWKS_NO_MATCHING_KEY":
      case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
        return new TokenError("key_not_found");
      case "ERR_JWKS_TIMEOUT":
        return new TokenError("issuer_unavailable");
      case "ERR_JOSE_NOT_SUPPORTED":
        return new TokenError("header_not_allowed");
      case "ERR_JWS_INVALID":
      case "ERR_JWT_INVALID":
      default:
        return new TokenError("token_malformed");
    }
  }
  // fetch failures of a remote JWKS surface as plain errors
  return new TokenError("issuer_unavailable");
}
