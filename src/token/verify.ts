// Access token verification: every rule a token must pass before any of its
// claims is believed. Failures are TokenErrors with stable codes.
//
//   structure (size, segments, strict JSON, refused headers)
//   -> issuer (exact iss) -> typ (RFC 9068) -> signature (issuer's keys, alg allowlist)
//   -> claims (types, iss, aud includes the caller's audience, exp/nbf/iat with skew)
//   -> scopes known to the calling API -> principal
//
// Verified claims are cached by the hash of the whole token; the checks that
// depend on the request (audience, scopes, time) run on every use, and when the
// issuer's key set has changed since (its generation moved), the signature is
// checked again with the token's key from the new set. So are refusals
// that no later request could turn around (a bad signature, a malformed token, an
// expired one): a token refused once is refused again without a signature check,
// for a minute, which is what makes a flood of forged tokens cheap. And slow: the
// first refusal of a token is answered at once, each repeat of it later (a tarpit):
// after REPEAT_DELAY_MS, twice that the next time, and so on up to
// MAX_REPEAT_DELAY_MS. A client that sends it again and again, waiting for each
// answer, gets its calls answered at a falling rate instead of taking the CPU that
// valid calls need; the longest wait stays at half the SDK's default deadline, so
// the caller still gets its refusal rather than a timeout. After its minute the
// token is checked again (the issuer's keys may have changed), but its repeats are
// still counted, for REPEATS_KEPT_MS from its first refusal: refused again, it waits
// as its count says, so a flood replaying the same tokens does not get a fast start
// every minute. The minute is kept on the monotonic clock: on the wall clock (the
// request's time), a clock stepped back would keep a refusal the issuer's new keys
// could turn around for the size of the step. Nor does a bad signature's refusal
// outlive the key set it was decided under: once the issuer's generation has moved,
// the token is checked again within its minute. A signature the kid's key held does
// not verify asks the key source for a newer set first (a refetch, on the budget of an
// unknown kid's): an issuer may have given the kid to a new key.
import { createHash } from "node:crypto";
import { errors as joseErrors, type JWSHeaderParameters, type JWTPayload } from "jose";
import { LRUCache } from "lru-cache";
import type { TokenReasonCode } from "@verdict/sdk/wire";
import { VerifiedTokenCache, type CachedToken } from "./cache.js";
import { checkClaims } from "./claims.js";
import { TokenError } from "./errors.js";
import type { IssuerRegistry, TrustedIssuer } from "./issuers.js";
import type { KeySource } from "./jwks/source.js";
import { looksLikeJwt, parseJwt } from "./jwt.js";
import { principalFromClaims, type Principal } from "./principal.js";
import { signatureVerifies } from "./signature.js";
import type { Algorithm } from "./config.js";

export interface VerifierOptions {
  clockSkewSeconds: number;
  maxBytes: number;
  /** exp at most this far after now or iat (default 24 h). */
  maxLifetimeSeconds?: number;
  /** Entries in the verified-token cache (0 disables it). */
  cacheEntries?: number;
  /** The clock a refusal's minute is measured on (milliseconds; default performance.now()). */
  elapsedMs?: () => number;
}

/** What the calling API brings to a verification. */
export interface VerifyContext {
  audience: string;
  /** The scopes the calling API declares; undefined: no check. */
  knownScopes?: ReadonlySet<string>;
  /** What to do with a scope the API does not know: deny (default) or drop it. */
  unknownScopes?: "deny" | "ignore";
  /** Seconds since the epoch. */
  now: number;
}

export interface VerifiedToken {
  principal: Principal;
  claims: JWTPayload;
  /** Hex SHA-256 of the whole token: what logs and records may carry instead of it. */
  tokenHash: string;
  /** How the token was verified. */
  via: "jwt" | "jwt-cached" | "introspection";
}

export const DEFAULT_MAX_LIFETIME_SECONDS = 86_400;

/**
 * Refusals that hold for these exact bytes whoever asks and whenever (issuers and
 * their algorithms are fixed for the process; a signature that does not verify
 * against the issuer's keys stays so, until the keys change: hence the expiry).
 * Not: audience or scopes (they depend on the caller), times still to come
 * (nbf, auth_time, a lifetime measured from now), keys not found (a refresh may
 * bring them), unavailable issuers, introspection, DPoP.
 */
const PERMANENT: ReadonlySet<TokenReasonCode> = new Set<TokenReasonCode>([
  "token_malformed",
  "header_not_allowed",
  "typ_invalid",
  "algorithm_not_allowed",
  "signature_invalid",
  "token_encrypted",
  "claim_duplicate",
  "claim_missing",
  "claim_type_invalid",
  "confirmation_unsupported",
  "token_expired",
  "issuer_unknown",
]);
const REFUSED_ENTRIES = 10_000;
/** How long a refusal stands for a token's bytes before the token is checked again. */
export const REFUSED_TTL_MS = 60_000;
/** How long a refused token's repeats are counted (the tarpit's memory), across checks again. */
export const REPEATS_KEPT_MS = 600_000;
/** Refusals of the same token answered at once; later ones wait (repeatDelayMs). */
export const REPEATS_BEFORE_DELAY = 1;
/** How long the first delayed refusal of a token sent again and again waits before it is answered. */
export const REPEAT_DELAY_MS = 50;
/** The longest wait: at most half the SDK's default deadline (1 s), so a delayed refusal still reaches the caller. */
export const MAX_REPEAT_DELAY_MS = 500;

/** The wait before the `times`-th refusal of the same token is answered: none, then doubling from REPEAT_DELAY_MS, at most MAX_REPEAT_DELAY_MS. */
export function repeatDelayMs(times: number): number {
  if (times <= REPEATS_BEFORE_DELAY) return 0;
  return Math.min(REPEAT_DELAY_MS * 2 ** (times - REPEATS_BEFORE_DELAY - 1), MAX_REPEAT_DELAY_MS);
}

/** A refusal remembered for a token's bytes (see TokenVerifier.refused). */
interface Refusal {
  reason: TokenReasonCode;
  message: string;
  times: number;
  /** When the token was last checked, on the verifier's monotonic clock. */
  checkedAtMs: number;
  /** For a refusal of the signature: the key set it was decided under, so it stands only while that set is held. */
  under?: KeysChecked;
}

/** The issuer's keys a token's signature was checked against, and their generation then. */
interface KeysChecked {
  keys: KeySource;
  generation: number;
}

const ACCESS_TOKEN_TYPES = new Set(["at+jwt", "application/at+jwt"]);
const LEGACY_TYPES = new Set(["jwt", "application/jwt"]);

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export class TokenVerifier {
  private readonly cache: VerifiedTokenCache | undefined;
  /**
   * Token hash → a refusal that stands for those bytes (PERMANENT), with its message,
   * until REFUSED_TTL_MS after `checkedAtMs` (when it was last checked); and how
   * many times the token was refused, for REPEATS_KEPT_MS.
   */
  private readonly refused = new LRUCache<string, Refusal>({ max: REFUSED_ENTRIES, ttl: REPEATS_KEPT_MS });
  private readonly elapsedMs: () => number;

  constructor(
    private readonly issuers: IssuerRegistry,
    private readonly options: VerifierOptions,
  ) {
    const entries = options.cacheEntries ?? 10_000;
    this.cache = entries > 0 ? new VerifiedTokenCache(entries) : undefined;
    this.elapsedMs = options.elapsedMs ?? (() => performance.now());
  }

  async verify(token: string, context: VerifyContext): Promise<VerifiedToken> {
    if (token.length === 0) throw new TokenError("token_missing");
    if (Buffer.byteLength(token, "utf8") > this.options.maxBytes) throw new TokenError("token_too_large");
    const tokenHash = sha256Hex(token);
    const nowMs = this.elapsedMs();
    const refusal = this.refused.get(tokenHash);
    if (refusal && nowMs - refusal.checkedAtMs < REFUSED_TTL_MS && !keysMoved(refusal)) await this.refuseAgain(refusal);
    if (!looksLikeJwt(token)) return this.verifyOpaque(token, tokenHash, context);
    const signature: { under?: KeysChecked } = {};
    try {
      const verified = await this.verifyJwt(token, tokenHash, context, signature);
      if (refusal) this.refused.delete(tokenHash);
      return verified;
    } catch (error) {
      if (!(error instanceof TokenError && PERMANENT.has(error.reason))) {
        if (refusal) this.refused.delete(tokenHash);
        throw error;
      }
      if (!refusal) {
        this.refused.set(tokenHash, { reason: error.reason, message: error.message, times: 1, checkedAtMs: nowMs, under: signature.under });
        throw error;
      }
      // Checked again (after its minute, or under new keys), and refused again: a repeat like any other.
      Object.assign(refusal, { reason: error.reason, message: error.message, checkedAtMs: nowMs, under: signature.under });
      return this.refuseAgain(refusal);
    }
  }

  /** A repeat of a refusal: counted, answered after the wait its count says. */
  private async refuseAgain(refusal: Refusal): Promise<never> {
    refusal.times += 1;
    const delayMs = repeatDelayMs(refusal.times);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    throw new TokenError(refusal.reason, refusal.message);
  }

  /** `signature.under` is set when the token is refused at its signature: the key set that refusal was decided under. */
  private async verifyJwt(token: string, tokenHash: string, context: VerifyContext, signature: { under?: KeysChecked }): Promise<VerifiedToken> {
    const cached = this.cache?.get(tokenHash);
    if (cached) {
      // An integer compare on every hit (which also lets stale keys be refetched in the background);
      // a key lookup only when the issuer's key set has changed.
      const generation = cached.keys.generation();
      if (generation === cached.generation || (await stillVerifies(token, cached, generation))) {
        checkClaims(cached.claims, this.rules(cached.issuer, context, ["iat", "jti"]));
        return { principal: this.principal(cached.claims, context), claims: cached.claims, tokenHash, via: "jwt-cached" };
      }
      // Its key is gone (or no longer verifies it): verified from scratch, so refused key_not_found or verified by another key.
      this.cache?.delete(tokenHash);
    }

    const { header, unverifiedClaims } = parseJwt(token, this.options.maxBytes);
    const issuer = this.issuerOf(unverifiedClaims);
    checkType(header, issuer);
    if (!issuer.algorithms.includes(header["alg"] as string)) throw new TokenError("algorithm_not_allowed");
    if (!issuer.keys) throw new TokenError("issuer_unknown", "The token's issuer is configured for opaque tokens only.");
    if (token.endsWith(".")) throw new TokenError("signature_invalid", "The token is not signed.");

    const signedHeader = header as JWSHeaderParameters & { alg: Algorithm };
    // Read before the key is: a refresh that lands meanwhile makes the entry look older, checked again on its next use, never newer.
    const generation = issuer.keys.generation();
    try {
      await verifySignature(token, signedHeader, issuer.keys, generation);
    } catch (error) {
      signature.under = { keys: issuer.keys, generation };
      throw error;
    }
    // The payload verified above is exactly the segment parsed (strictly) above.
    const claims = unverifiedClaims as JWTPayload;
    // Caller-independent rules first, so what is cached holds for every caller.
    checkClaims(claims, { ...this.rules(issuer.issuer, context, ["iat", "jti"]), audience: firstAudience(claims) });
    const principal = this.principal(claims, { ...context, knownScopes: undefined });
    const entry = { claims, issuer: issuer.issuer, keys: issuer.keys, header: signedHeader, generation };
    this.cache?.set(tokenHash, entry, ((claims.exp as number) + this.options.clockSkewSeconds) * 1000, context.now * 1000);

    checkClaims(claims, this.rules(issuer.issuer, context, ["iat", "jti"]));
    return { principal: this.scoped(principal, context), claims, tokenHash, via: "jwt" };
  }

  private async verifyOpaque(token: string, tokenHash: string, context: VerifyContext): Promise<VerifiedToken> {
    if (token.split(".").length === 5) throw new TokenError("token_encrypted");
    const issuer = this.issuers.opaque();
    if (!issuer?.introspection || !/^[\x21-\x7e]+$/.test(token)) throw new TokenError("token_malformed");
    const answer = await issuer.introspection.introspect(token, tokenHash);
    // The issuer answered about its own token: iss is the issuer's unless it says otherwise.
    const claims = { ...answer, iss: answer["iss"] ?? issuer.issuer } as Record<string, unknown>;
    delete claims["active"];
    checkClaims(claims, this.rules(issuer.issuer, context, []));
    return { principal: this.principal(claims, context), claims, tokenHash, via: "introspection" };
  }

  private issuerOf(claims: Record<string, unknown>): TrustedIssuer {
    const iss = claims["iss"];
    if (iss === undefined) throw new TokenError("claim_missing", "The token has no iss claim.");
    if (typeof iss !== "string") throw new TokenError("claim_type_invalid", "The iss claim must be a string.");
    const issuer = this.issuers.find(iss);
    if (!issuer) throw new TokenError("issuer_unknown");
    return issuer;
  }

  private rules(issuer: string, context: VerifyContext, required: ("iat" | "jti")[]) {
    return {
      issuer,
      audience: context.audience,
      now: context.now,
      skewSeconds: this.options.clockSkewSeconds,
      maxLifetimeSeconds: this.options.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS,
      required,
    };
  }

  private principal(claims: JWTPayload, context: VerifyContext): Principal {
    return this.scoped(principalFromClaims(claims), context);
  }

  /** Applies the calling API's declared scopes. */
  private scoped(principal: Principal, context: VerifyContext): Principal {
    const known = context.knownScopes;
    if (!known) return principal;
    const unknown = principal.scopes.filter((scope) => !known.has(scope));
    if (unknown.length === 0) return principal;
    if ((context.unknownScopes ?? "deny") === "deny") throw new TokenError("unknown_scope");
    return { ...principal, scopes: principal.scopes.filter((scope) => known.has(scope)) };
  }
}

function checkType(header: Record<string, unknown>, issuer: TrustedIssuer): void {
  const typ = header["typ"];
  if (typeof typ === "string" && ACCESS_TOKEN_TYPES.has(typ.toLowerCase())) return;
  if (issuer.allowUntypedJwt && (typ === undefined || (typeof typ === "string" && LEGACY_TYPES.has(typ.toLowerCase())))) return;
  throw new TokenError("typ_invalid");
}

/** Any one audience of the token, for the caller-independent pass of the rules. */
function firstAudience(claims: JWTPayload): string {
  const aud = claims.aud;
  if (typeof aud === "string") return aud;
  if (Array.isArray(aud) && typeof aud[0] === "string") return aud[0];
  return "\u0000"; // checkClaims reports the missing or malformed aud
}

/**
 * Whether a cached token's signature still verifies with its key from the issuer's current key set
 * (selected, and imported once per set, by the key source; nothing is fetched). If so the entry is
 * marked as checked against `generation`.
 */
async function stillVerifies(token: string, cached: CachedToken, generation: number): Promise<boolean> {
  try {
    const key = await cached.keys.currentKey(cached.header);
    if (!key || !signatureVerifies(token, cached.header.alg, key)) return false;
  } catch {
    return false;
  }
  cached.generation = generation;
  return true;
}

/** Whether a refusal was decided under a key set the issuer's keys have since moved on from (an integer compare). */
function keysMoved(refusal: Refusal): boolean {
  return refusal.under !== undefined && refusal.under.keys.generation() !== refusal.under.generation;
}

/**
 * The issuer's key for this header (jose selects and imports it), then the signature, on this thread (signature.ts).
 * A signature that key does not verify is checked again with the header's key in a newer set, if the source has or
 * may fetch one (`generation`: the set's before the key was selected); only one that fails against the keys now held is refused.
 */
async function verifySignature(token: string, header: JWSHeaderParameters & { alg: Algorithm }, keys: KeySource, generation: number): Promise<void> {
  let verified: boolean;
  try {
    verified = signatureVerifies(token, header.alg, await keys.getKey(header));
    if (!verified) {
      const newer = await keys.newerKey?.(header, generation);
      verified = newer !== undefined && signatureVerifies(token, header.alg, newer);
    }
  } catch (error) {
    throw fromJoseError(error);
  }
  if (!verified) throw new TokenError("signature_invalid");
}

/** Maps jose's typed errors (by their stable codes) onto Verdict's reasons. */
function fromJoseError(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof joseErrors.JOSEError) {
    switch (error.code) {
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
        return new TokenError("algorithm_not_allowed", "The token's algorithm or key type is not supported.");
      default:
        return new TokenError("token_malformed");
    }
  }
  // Anything else from key selection or import (a key unusable for this alg).
  return new TokenError("signature_invalid");
}
