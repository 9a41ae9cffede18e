// Verified tokens, so a token repeated across requests is not re-verified.
// Keyed by the SHA-256 of the whole token: a key made of a part (say the
// signature) would let an edited payload under a reused signature through.
// Only successes are stored, each until its exp; what depends on the request
// (audience, the caller's scopes, time) is checked again on every use.
import { LRUCache } from "lru-cache";
import type { JWTPayload } from "jose";

export interface CachedToken {
  claims: JWTPayload;
  issuer: string;
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

  get size(): number {
    return this.entries.size;
  }
}
