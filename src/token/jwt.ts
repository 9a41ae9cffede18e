// The structure of a compact JWS access token, checked before any cryptography:
// size, segments, strict JSON, and the header parameters Verdict refuses.
import { TokenError } from "./errors.js";
import { decodeUtf8, DuplicateMemberError, InvalidUtf8Error, parseStrictJson } from "./json.js";

export interface ParsedJwt {
  header: Record<string, unknown>;
  /** Claims as sent: not yet verified, used only to pick the issuer. */
  unverifiedClaims: Record<string, unknown>;
}

/**
 * Header parameters that point at or carry keys. Keys come only from the issuer's
 * configured JWKS; a token naming its own key is refused, never followed.
 */
export const KEY_BEARING_HEADERS = ["jwk", "jku", "x5u", "x5c"] as const;

const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** True when the token has the shape of a compact JWS (three base64url segments). */
export function looksLikeJwt(token: string): boolean {
  return token.split(".").length === 3;
}

export function parseJwt(token: string, maxBytes: number): ParsedJwt {
  if (token.length === 0) throw new TokenError("token_missing");
  if (Buffer.byteLength(token, "utf8") > maxBytes) throw new TokenError("token_too_large");
  const parts = token.split(".");
  if (parts.length === 5) throw new TokenError("token_encrypted");
  if (parts.length !== 3) throw new TokenError("token_malformed");
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  if (!SEGMENT.test(headerPart) || !SEGMENT.test(payloadPart)) throw new TokenError("token_malformed");
  // An empty signature is judged after the header (alg none is refused as such).
  if (signaturePart !== "" && !SEGMENT.test(signaturePart)) throw new TokenError("token_malformed");

  const header = decodeObject(headerPart, "header");
  const unverifiedClaims = decodeObject(payloadPart, "payload");

  if (typeof header["alg"] !== "string" || header["alg"] === "") throw new TokenError("token_malformed", "The token header has no alg.");
  if (header["kid"] !== undefined && (typeof header["kid"] !== "string" || header["kid"].length > 256)) {
    throw new TokenError("token_malformed", "The token's kid must be a string.");
  }
  if (header["enc"] !== undefined) throw new TokenError("token_encrypted");
  for (const name of KEY_BEARING_HEADERS) {
    if (header[name] !== undefined)
      throw new TokenError("header_not_allowed", `The token's ${name} header is not accepted: keys come only from the issuer's JWKS.`);
  }
  // Verdict implements no JWS extensions, so any crit (RFC 7515 §4.1.11) is refused.
  if (header["crit"] !== undefined) throw new TokenError("header_not_allowed", "The token's crit header names extensions Verdict does not understand.");
  if (header["b64"] !== undefined) throw new TokenError("header_not_allowed", "Unencoded payloads (b64) are not accepted.");
  // Compression is JWE's (RFC 7516 §4.1.3; RFC 8725 §3.6 advises against it): a JWS that says so was not made for this.
  if (header["zip"] !== undefined) throw new TokenError("header_not_allowed", "Compressed tokens (zip) are not accepted.");
  return { header, unverifiedClaims };
}

function decodeObject(segment: string, what: "header" | "payload"): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(decodeUtf8(Buffer.from(segment, "base64url")));
  } catch (error) {
    if (error instanceof DuplicateMemberError) throw new TokenError("claim_duplicate", `The token ${what} repeats a member name.`);
    if (error instanceof InvalidUtf8Error) throw new TokenError("token_malformed", `The token ${what} is not UTF-8 (RFC 7519 §7.2).`);
    throw new TokenError("token_malformed", `The token ${what} is not base64url-encoded JSON.`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TokenError("token_malformed", `The token ${what} is not a JSON object.`);
  }
  return value as Record<string, unknown>;
}
