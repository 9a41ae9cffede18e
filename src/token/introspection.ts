// Opaque access tokens (RFC 7662): asked of the issuer's introspection endpoint.
// Active answers are cached until the token's exp (bounded by maxCacheMs);
// inactive answers and failures are never cached.
import { LRUCache } from "lru-cache";
import { TokenError } from "./errors.js";

export interface IntrospectionOptions {
  endpoint: string;
  clientId: string;
  clientSecret: string;
  timeoutMs: number;
  maxCacheMs: number;
  maxEntries: number;
  now?: () => number;
}

export type IntrospectedClaims = Record<string, unknown> & { active: true };

export class IntrospectionClient {
  private readonly cache: LRUCache<string, IntrospectedClaims>;
  private readonly now: () => number;
  /** HTTP requests made (for tests and metrics). */
  requests = 0;

  constructor(private readonly options: IntrospectionOptions) {
    this.cache = new LRUCache({ max: options.maxEntries });
    this.now = options.now ?? Date.now;
  }

  /** `tokenHash` keys the cache; the token itself is only ever sent to the endpoint. */
  async introspect(token: string, tokenHash: string): Promise<IntrospectedClaims> {
    const cached = this.cache.get(tokenHash);
    if (cached) return cached;
    const answer = await this.ask(token);
    if (answer["active"] !== true) throw new TokenError("token_inactive");
    const claims = answer as IntrospectedClaims;
    const exp = claims["exp"];
    if (typeof exp === "number") {
      const ttl = Math.min(this.options.maxCacheMs, exp * 1000 - this.now());
      if (ttl > 0) this.cache.set(tokenHash, claims, { ttl });
    }
    return claims;
  }

  private async ask(token: string): Promise<Record<string, unknown>> {
    this.requests += 1;
    const credentials = Buffer.from(`${encodeURIComponent(this.options.clientId)}:${encodeURIComponent(this.options.clientSecret)}`).toString("base64");
    let response: Response;
    try {
      response = await fetch(this.options.endpoint, {
        method: "POST",
        headers: {
          authorization: `Basic ${credentials}`,
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
        },
        body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
        redirect: "error",
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      throw new TokenError("issuer_unavailable", `The introspection endpoint could not be reached (${(error as Error).name}).`);
    }
    if (!response.ok) throw new TokenError("issuer_unavailable", `The introspection endpoint answered HTTP ${response.status}.`);
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new TokenError("issuer_unavailable", "The introspection endpoint did not answer JSON.");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new TokenError("issuer_unavailable", "The introspection endpoint did not answer a JSON object.");
    }
    return body as Record<string, unknown>;
  }
}
