// Verified tokens, so a token repeated across requests is not re-verified.
// Keyed by the SHA-256 of the whole token: a key made of a part (say the
// signature) would let an edited payload under a reused signature through.
// Only successes are stored, each until its exp; what depends on the request
// (audience, the caller's scopes, time) is checked again on every use, and so
// is the issuer's key set: an entry remembers the generation of the keys that
// verified it, and when that moves the token's key is looked up again (a key the
// issuer removed, say because it leaked, takes its tokens out of the cache).
import { LRUCache } from "lru-cache";
import type { JWSHeaderParameters, JWTPayload } from "jose";
import type { Algorithm } from "./config.js";
import type { KeySource } from "./jwks/source.js";

export interface CachedToken {
  claims: JWTPayload;
  issuer: string;
  /** The issuer's keys, and the token's header (its alg and kid select its key among them). */
  keys: KeySource;
  header: JWSHeaderParameters & { alg: Algorithm };
  /** keys.generation() when the signature was last checked. */
  generation: number;
}

export class VerifiedTokenCache {
  private readonly entries: LRUCache<string, CachedToken>;

  constructor(maxEntries: number) {
    this.entries = new LRUCache({ max: Math.max(1, maxEntries) });
  }

  get(tokenHash: string): CachedToken | undefined {
    return this.entries.get(tokenHash);
  }

  /** Keeps the entry until `expiresAtMs` (never past the token's exp). */
  set(tokenHash: string, entry: CachedToken, expiresAtMs: number, nowMs: number): void {
    const ttl = Math.floor(expiresAtMs - nowMs);
    if (ttl > 0) this.entries.set(tokenHash, entry, { ttl });
  }

  delete(tokenHash: string): void {
    this.entries.delete(tokenHash);
  }

  get size(): number {
    return this.entries.size;
  }
}
