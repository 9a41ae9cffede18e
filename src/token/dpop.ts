// DPoP proofs (RFC 9449) for sender-constrained tokens: a token with cnf.jkt is
// only usable with a proof, signed by the key it is bound to, for this request.
import { createHash } from "node:crypto";
import { calculateJwkThumbprint, compactVerify, importJWK, type JWK } from "jose";
import { TokenError } from "./errors.js";
import { decodeUtf8, DuplicateMemberError, InvalidUtf8Error, parseStrictJson } from "./json.js";
import { MIN_RSA_BITS } from "./signature.js";

export const DPOP_ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"];
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/** The largest RSA modulus a proof's key may have (a 4,096-bit verification costs about 4 times a 2,048-bit one). */
const MAX_RSA_BITS = 4096;

export interface DpopRequest {
  proof: string;
  method: string;
  url: string;
}

export interface DpopOptions {
  /** How old a proof's iat may be (seconds). */
  maxAgeSeconds: number;
  skewSeconds: number;
  maxBytes: number;
}

export interface VerifiedProof {
  jti: string;
  jkt: string;
  /** Seconds since the epoch after which the jti need not be remembered. */
  rememberUntil: number;
}

function invalid(message: string): TokenError {
  return new TokenError("dpop_invalid", message);
}

/** Verifies a proof for `accessToken` bound to `expectedJkt`; `now` in seconds. */
export async function verifyDpopProof(
  request: DpopRequest | undefined,
  accessToken: string,
  expectedJkt: string,
  now: number,
  options: DpopOptions,
): Promise<VerifiedProof> {
  if (!request || request.proof === "") throw invalid("This token is bound to a key (cnf.jkt): the request must carry its DPoP proof.");
  if (Buffer.byteLength(request.proof) > options.maxBytes) throw invalid("The DPoP proof is too large.");
  const parts = request.proof.split(".");
  if (parts.length !== 3) throw invalid("The DPoP proof is not a compact JWS.");

  const header = decode(parts[0] as string, "header");
  if (header["typ"] !== "dpop+jwt") throw invalid("The DPoP proof's typ must be dpop+jwt.");
  const alg = header["alg"];
  if (typeof alg !== "string" || !DPOP_ALGORITHMS.includes(alg)) throw invalid("The DPoP proof's alg is not an allowed asymmetric algorithm.");
  const jwk = header["jwk"];
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) throw invalid("The DPoP proof carries no public jwk.");
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) throw invalid("The DPoP proof's jwk must be a public key.");
  if (!smallRsaExponent(jwk)) throw invalid("The DPoP proof's RSA jwk must have a standard public exponent (at most 4 bytes, e.g. 65537).");
  if (!boundedRsaModulus(jwk)) throw invalid(`The DPoP proof's RSA jwk must have a modulus of ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits.`);

  // The thumbprint (a hash) before the signature (RSA or EC arithmetic): a proof by a key the token is not bound to costs no verification.
  let jkt: string;
  try {
    jkt = await calculateJwkThumbprint(jwk, "sha256");
  } catch {
    throw invalid("The DPoP proof's jwk is not a usable public key.");
  }
  if (jkt !== expectedJkt) throw invalid("The DPoP proof is signed by a key the token is not bound to.");

  let payloadBytes: Uint8Array;
  try {
    const key = await importJWK(jwk as JWK, alg);
    ({ payload: payloadBytes } = await compactVerify(request.proof, key, { algorithms: [alg] }));
  } catch {
    throw invalid("The DPoP proof's signature does not verify with its jwk.");
  }
  const claims = decode(Buffer.from(payloadBytes).toString("base64url"), "payload");

  const jti = claims["jti"];
  if (typeof jti !== "string" || jti.length === 0 || jti.length > 256) throw invalid("The DPoP proof needs a jti.");
  if (claims["htm"] !== request.method) throw invalid("The DPoP proof is for another HTTP method.");
  const htu = claims["htu"];
  if (typeof htu !== "string" || normalizeHtu(htu) === undefined || normalizeHtu(htu) !== normalizeHtu(request.url)) {
    throw invalid("The DPoP proof is for another URL.");
  }
  const iat = claims["iat"];
  if (typeof iat !== "number" || !Number.isFinite(iat)) throw invalid("The DPoP proof needs a numeric iat.");
  if (iat > now + options.skewSeconds) throw invalid("The DPoP proof was issued in the future.");
  if (iat < now - options.maxAgeSeconds - options.skewSeconds) throw invalid("The DPoP proof is too old.");
  const ath = createHash("sha256").update(accessToken).digest("base64url");
  if (claims["ath"] !== ath) throw invalid("The DPoP proof is not for this access token (ath).");

  return { jti, jkt, rememberUntil: Math.ceil(iat + options.maxAgeSeconds + 2 * options.skewSeconds) };
}

/**
 * An RSA key's public exponent is a small standard one (65537, or 3): at most 4 bytes.
 * A huge odd exponent makes every verification many times dearer, for no security.
 */
function smallRsaExponent(jwk: object): boolean {
  const { kty, e } = jwk as { kty?: unknown; e?: unknown };
  if (kty !== "RSA") return true;
  return typeof e === "string" && /^[A-Za-z0-9_-]{2,6}$/.test(e) && Buffer.from(e, "base64url").length <= 4;
}

/**
 * An RSA key's modulus is at least MIN_RSA_BITS (as an issuer's must be: a weaker key lets
 * whoever factors it prove possession of a stolen token) and at most MAX_RSA_BITS: each
 * proof is verified with it, and the cost of a verification grows with its square.
 */
function boundedRsaModulus(jwk: object): boolean {
  const { kty, n } = jwk as { kty?: unknown; n?: unknown };
  if (kty !== "RSA") return true;
  if (typeof n !== "string" || !/^[A-Za-z0-9_-]+$/.test(n)) return false;
  const modulus = Buffer.from(n, "base64url");
  const bits = modulus.length * 8 - Math.clz32(modulus[0] ?? 0) + 24;
  return bits >= MIN_RSA_BITS && bits <= MAX_RSA_BITS;
}

/** RFC 9449 §4.3: compare without query and fragment, scheme and host case-insensitively. */
export function normalizeHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`; // URL lowercases scheme/host and drops default ports
}

function decode(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(decodeUtf8(Buffer.from(segment, "base64url")));
  } catch (error) {
    if (error instanceof InvalidUtf8Error) throw invalid(`The DPoP proof ${what} is not UTF-8.`);
    throw invalid(error instanceof DuplicateMemberError ? `The DPoP proof ${what} repeats a member name.` : `The DPoP proof ${what} is not JSON.`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(`The DPoP proof ${what} is not a JSON object.`);
  return value as Record<string, unknown>;
}
