// The verified-token cache: it saves work, and never changes an answer.
import type { ServerResponse } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { importJWK, type CryptoKey, type JWK } from "jose";
import { DEFAULT_DEADLINE_MS } from "@verdict/sdk";
import {
  IssuerRegistry,
  MAX_REPEAT_DELAY_MS,
  REFUSED_TTL_MS,
  REPEAT_DELAY_MS,
  REPEATS_BEFORE_DELAY,
  REPEATS_KEPT_MS,
  RemoteJwks,
  repeatDelayMs,
  TokenError,
  TokenVerifier,
} from "../../src/token/index.js";
import { json, startHttpServer, type TestHttpServer } from "../support/http.js";
import { createTestIssuer, issuerConfig, TEST_AUDIENCE, type TestIssuer } from "../support/issuer.js";

let issuer: TestIssuer;
let verifier: TokenVerifier;
const now = () => Date.now() / 1000;
/** The verifiers' monotonic clock (a refusal's minute), moved by the tests. */
let elapsedMs = 0;
const elapsed = () => elapsedMs;

beforeAll(async () => {
  issuer = await createTestIssuer();
});

function fresh(cacheEntries = 100) {
  verifier = new TokenVerifier(IssuerRegistry.fromConfig([issuerConfig(issuer)]), { clockSkewSeconds: 60, maxBytes: 8192, cacheEntries, elapsedMs: elapsed });
  return verifier;
}

/** A fresh verifier whose issuer counts its key lookups (one per signature checked). */
function countingKeyLookups(): { lookups: number } {
  const registry = IssuerRegistry.fromConfig([issuerConfig(issuer)]);
  const keys = registry.find(issuer.issuer)?.keys;
  if (!keys) throw new Error("the test issuer has keys");
  const counted = { lookups: 0 };
  const getKey = keys.getKey.bind(keys);
  keys.getKey = (header) => {
    counted.lookups += 1;
    return getKey(header);
  };
  verifier = new TokenVerifier(registry, { clockSkewSeconds: 60, maxBytes: 8192, cacheEntries: 100, elapsedMs: elapsed });
  return counted;
}

async function reason(token: string, context: Partial<Parameters<TokenVerifier["verify"]>[1]> = {}): Promise<string> {
  try {
    const verified = await verifier.verify(token, { audience: TEST_AUDIENCE, now: now(), ...context });
    return verified.via;
  } catch (error) {
    if (error instanceof TokenError) return error.reason;
    throw error;
  }
}

afterEach(() => fresh());

describe("verified-token cache", () => {
  it("serves a repeated token from the cache", async () => {
    fresh();
    const token = await issuer.token();
    expect(await reason(token)).toBe("jwt");
    expect(await reason(token)).toBe("jwt-cached");
  });

  it("is keyed by the whole token: an edited payload under a cached token's signature is refused", async () => {
    fresh();
    const token = await issuer.token({ scope: "invoices:read" });
    expect(await reason(token)).toBe("jwt");
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const edited = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, "base64url").toString()), scope: "invoices:write" })).toString("base64url");
    expect(await reason(`${header}.${edited}.${signature}`)).toBe("signature_invalid");
  });

  it("refuses a forged token again without checking its signature again", async () => {
    const keys = countingKeyLookups();
    const token = await issuer.token();
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${"A".repeat(86)}`;
    expect(await reason(forged)).toBe("signature_invalid");
    expect(keys.lookups).toBe(1);
    for (let i = 0; i < 5; i++) expect(await reason(forged)).toBe("signature_invalid");
    expect(keys.lookups).toBe(1);
    // an expired token is refused for good as well; the valid one still verifies
    const expired = await issuer.token({ exp: Math.floor(now()) - 3_600, iat: Math.floor(now()) - 7_200 });
    expect(await reason(expired)).toBe("token_expired");
    expect(await reason(expired)).toBe("token_expired");
    expect(keys.lookups).toBe(2);
    expect(await reason(token)).toBe("jwt");
  });

  it("answers the first refusal of a token at once and each repeat of it later and later, other tokens at once (a tarpit for floods)", async () => {
    fresh();
    const token = await issuer.token();
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${"B".repeat(86)}`;
    const timed = async (t: string) => {
      const started = performance.now();
      const answer = await reason(t);
      return { answer, ms: performance.now() - started };
    };
    for (let i = 0; i < REPEATS_BEFORE_DELAY; i++) expect((await timed(forged)).ms).toBeLessThan(REPEAT_DELAY_MS);
    const slow = await timed(forged);
    expect(slow).toMatchObject({ answer: "signature_invalid" });
    expect(slow.ms).toBeGreaterThanOrEqual(REPEAT_DELAY_MS - 1);
    // and slower the next time
    const slower = await timed(forged);
    expect(slower).toMatchObject({ answer: "signature_invalid" });
    expect(slower.ms).toBeGreaterThanOrEqual(2 * REPEAT_DELAY_MS - 1);
    // the valid token, and another forged one the first time, are answered at once
    expect((await timed(token)).ms).toBeLessThan(REPEAT_DELAY_MS);
    const other = `${token.slice(0, token.lastIndexOf(".") + 1)}${"C".repeat(86)}`;
    const first = await timed(other);
    expect(first).toMatchObject({ answer: "signature_invalid" });
    expect(first.ms).toBeLessThan(REPEAT_DELAY_MS);
  });

  it("checks a refused token again after its minute, and keeps counting its repeats: refused again, it waits as its count says", async () => {
    const keys = countingKeyLookups();
    const token = await issuer.token();
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${"D".repeat(86)}`;
    const timed = async () => {
      const started = performance.now();
      const answer = await reason(forged);
      return { answer, ms: performance.now() - started };
    };
    // refused, then repeated within the minute: no check, later each time
    expect(await timed()).toMatchObject({ answer: "signature_invalid" });
    const repeats = REPEATS_BEFORE_DELAY + 1;
    elapsedMs += 1_000;
    for (let i = 1; i < repeats; i++) expect(await timed()).toMatchObject({ answer: "signature_invalid" });
    expect(keys.lookups).toBe(1);
    // past the minute: checked again (a key could have changed), refused again, and
    // answered after the wait of its next repeat, not at once as a new token would be
    elapsedMs += REFUSED_TTL_MS;
    const again = await timed();
    expect(again.answer).toBe("signature_invalid");
    expect(keys.lookups).toBe(2);
    expect(again.ms).toBeGreaterThanOrEqual(repeatDelayMs(repeats + 1) - 1);
    expect(repeatDelayMs(repeats + 1)).toBeGreaterThan(0);
    // and that check stands for a minute from then
    elapsedMs += 1_000;
    expect(await timed()).toMatchObject({ answer: "signature_invalid" });
    expect(keys.lookups).toBe(2);
    // the count is a memory of bounded length
    expect(REPEATS_KEPT_MS).toBeGreaterThan(REFUSED_TTL_MS);
  });

  it("measures a refusal's minute on its own monotonic clock, not on the request's time: a wall clock stepped back an hour does not keep it", async () => {
    const keys = countingKeyLookups();
    const token = await issuer.token();
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${"E".repeat(86)}`;
    const start = now();
    expect(await reason(forged, { now: start })).toBe("signature_invalid");
    // the request's time an hour back, a minute passed: checked again
    elapsedMs += REFUSED_TTL_MS + 1_000;
    expect(await reason(forged, { now: start - 3_600 })).toBe("signature_invalid");
    expect(keys.lookups).toBe(2);
    // the request's time an hour on, a second passed: the refusal still stands
    elapsedMs += 1_000;
    expect(await reason(forged, { now: start + 3_600 })).toBe("signature_invalid");
    expect(keys.lookups).toBe(2);
  });

  it("serves a refused token that verifies when it is checked again after its minute (the issuer's keys changed)", async () => {
    const registry = IssuerRegistry.fromConfig([issuerConfig(issuer)]);
    const keys = registry.find(issuer.issuer)?.keys;
    if (!keys) throw new Error("the test issuer has keys");
    verifier = new TokenVerifier(registry, { clockSkewSeconds: 60, maxBytes: 8192, cacheEntries: 100, elapsedMs: elapsed });
    // signed by another key under the issuer's kid: refused, and refused again within the minute
    const other = await createTestIssuer();
    const token = await other.token({}, { kid: issuer.kid });
    expect(await reason(token)).toBe("signature_invalid");
    elapsedMs += 1_000;
    expect(await reason(token)).toBe("signature_invalid");
    // the issuer now publishes that key under the kid: checked again after the minute, served
    const rotated = await importJWK(other.publicJwk, issuer.alg);
    keys.getKey = () => Promise.resolve(rotated as CryptoKey);
    elapsedMs += 29_000;
    expect(await reason(token)).toBe("signature_invalid");
    elapsedMs += REFUSED_TTL_MS;
    expect(await reason(token)).toBe("jwt");
  });

  it("doubles the wait with each repeat, up to a bound the SDK's default deadline outlasts", () => {
    const waits = Array.from({ length: 12 }, (_, i) => repeatDelayMs(i + 1));
    expect(REPEATS_BEFORE_DELAY).toBeGreaterThanOrEqual(1); // a token's first refusal is never delayed
    expect(waits.slice(0, REPEATS_BEFORE_DELAY)).toEqual(Array.from({ length: REPEATS_BEFORE_DELAY }, () => 0));
    expect(waits.slice(REPEATS_BEFORE_DELAY, REPEATS_BEFORE_DELAY + 3)).toEqual([REPEAT_DELAY_MS, 2 * REPEAT_DELAY_MS, 4 * REPEAT_DELAY_MS]);
    expect(Math.max(...waits)).toBe(MAX_REPEAT_DELAY_MS);
    expect(repeatDelayMs(1_000_000)).toBe(MAX_REPEAT_DELAY_MS);
    // a caller at the SDK's default deadline still gets the refusal, not DEADLINE_EXCEEDED
    expect(MAX_REPEAT_DELAY_MS).toBeLessThanOrEqual(DEFAULT_DEADLINE_MS / 2);
  });

  it("does not keep a refusal that depends on the caller or on a time still to come", async () => {
    fresh();
    const token = await issuer.token({ nbf: Math.floor(now()) + 600, exp: Math.floor(now()) + 3_600 });
    expect(await reason(token)).toBe("token_not_yet_valid");
    expect(await reason(token, { now: now() + 700 })).toBe("jwt");
    const other = await issuer.token();
    expect(await reason(other, { audience: "https://payments.example" })).toBe("audience_mismatch");
    expect(await reason(other)).toBe("jwt-cached");
  });

  it("checks the audience on every use: a token cached for one API is refused to another", async () => {
    fresh();
    const token = await issuer.token({ aud: TEST_AUDIENCE });
    expect(await reason(token)).toBe("jwt");
    expect(await reason(token, { audience: "https://payments.example" })).toBe("audience_mismatch");
  });

  it("checks time on every use: a cached token expires", async () => {
    fresh();
    const token = await issuer.token({ exp: Math.floor(now()) + 10 });
    expect(await reason(token)).toBe("jwt");
    expect(await reason(token, { now: now() + 10 + 61 })).toBe("token_expired");
  });

  it("checks the caller's scopes on every use", async () => {
    fresh();
    const token = await issuer.token({ scope: "invoices:read admin:all" });
    expect(await reason(token)).toBe("jwt");
    expect(await reason(token, { knownScopes: new Set(["invoices:read"]) })).toBe("unknown_scope");
  });

  it("does not cache failures: a token refused once is verified again", async () => {
    fresh();
    const token = await issuer.token({ nbf: Math.floor(now()) + 120 });
    expect(await reason(token)).toBe("token_not_yet_valid");
    expect(await reason(token, { now: now() + 120 })).toBe("jwt");
  });

  it("is bounded: the oldest entries go first", async () => {
    fresh(2);
    const [a, b, c] = await Promise.all([issuer.token(), issuer.token(), issuer.token()]);
    for (const token of [a, b, c]) expect(await reason(token)).toBe("jwt");
    expect(await reason(c)).toBe("jwt-cached");
    expect(await reason(a)).toBe("jwt");
  });

  it("can be turned off", async () => {
    fresh(0);
    const token = await issuer.token();
    expect(await reason(token)).toBe("jwt");
    expect(await reason(token)).toBe("jwt");
  });
});

describe("unknown scopes", () => {
  it("refuses a token with a scope the API does not declare", async () => {
    fresh();
    expect(await reason(await issuer.token({ scope: "invoices:read payments:write" }), { knownScopes: new Set(["invoices:read"]) })).toBe("unknown_scope");
  });

  it("drops unknown scopes instead when the API is configured to ignore them", async () => {
    fresh();
    const verified = await verifier.verify(await issuer.token({ scope: "invoices:read payments:write" }), {
      audience: TEST_AUDIENCE,
      now: now(),
      knownScopes: new Set(["invoices:read"]),
      unknownScopes: "ignore",
    });
    expect(verified.principal.scopes).toEqual(["invoices:read"]);
  });

  it("accepts scp arrays the same way", async () => {
    fresh();
    expect(await reason(await issuer.token({ scope: undefined, scp: ["invoices:read"] }), { knownScopes: new Set(["invoices:read"]) })).toBe("jwt");
  });
});

describe("legacy issuers", () => {
  it("accept typ JWT only when marked allow_typ_jwt", async () => {
    const token = await issuer.token({}, { typ: "JWT" });
    fresh();
    expect(await reason(token)).toBe("typ_invalid");
    verifier = new TokenVerifier(IssuerRegistry.fromConfig([issuerConfig(issuer, { allow_typ_jwt: true })]), { clockSkewSeconds: 60, maxBytes: 8192 });
    expect(await reason(token)).toBe("jwt");
  });
});

describe("the verified-token cache and the issuer's keys", () => {
  const ISSUER = "https://rotating-cache.example";
  let web: TestHttpServer;
  let published: JWK[] = [];
  /** Responses held unanswered while the endpoint hangs. */
  let held: ServerResponse[] | undefined;
  /** The endpoint answers 503 (the issuer cannot be reached). */
  let down = false;
  let a: TestIssuer;
  let b: TestIssuer;

  beforeAll(async () => {
    [a, b] = await Promise.all([createTestIssuer({ issuer: ISSUER }), createTestIssuer({ issuer: ISSUER })]);
    web = await startHttpServer({
      "/jwks": (_, __, res) => (held ? held.push(res) : down ? res.writeHead(503).end() : json(res, { keys: published }, { "cache-control": "max-age=300" })),
    });
  });
  afterAll(async () => {
    await web?.close();
  });

  /** A verifier whose issuer's keys are served over HTTP, fresh for 5 minutes of a clock the test moves. */
  function remote() {
    let clock = 0;
    let fetched = 0;
    const source = new RemoteJwks(`${web.url}/jwks`, {
      refreshMs: 600_000,
      staleGraceMs: 3_600_000,
      cooldownMs: 30_000,
      timeoutMs: 2_000,
      now: () => clock,
      onEvent: (event) => (fetched += event.type === "fetched" ? 1 : 0),
    });
    verifier = new TokenVerifier(new IssuerRegistry([{ issuer: ISSUER, algorithms: [a.alg], allowUntypedJwt: false, keys: source }]), {
      clockSkewSeconds: 60,
      maxBytes: 8192,
      cacheEntries: 100,
      elapsedMs: elapsed,
    });
    return {
      source,
      advance: (ms: number) => (clock += ms),
      /** Until the keys have been fetched `times` times in all. */
      fetchedTimes: (times: number) => vi.waitFor(() => expect(fetched).toBe(times), { timeout: 5_000, interval: 10 }),
    };
  }

  it("refuses a cached token key_not_found once the issuer removes its key: a hit on stale keys refetches them in the background", async () => {
    published = [a.publicJwk, b.publicJwk];
    const { source, advance } = remote();
    const [removed, kept] = await Promise.all([a.token(), b.token()]);
    expect(await reason(removed)).toBe("jwt");
    expect(await reason(kept)).toBe("jwt");
    expect(source.fetches).toBe(1);

    published = [b.publicJwk]; // a's key leaked: the issuer takes it out
    expect(await reason(removed)).toBe("jwt-cached"); // the keys are still fresh
    expect(source.fetches).toBe(1);
    advance(301_000);
    // the first hit on stale keys is answered at once, from the cache, and asks the issuer beside it
    expect(await reason(removed)).toBe("jwt-cached");
    expect(source.fetches).toBe(2);
    await vi.waitFor(async () => expect(await reason(removed)).toBe("key_not_found"), { timeout: 5_000, interval: 10 });
    // the token whose key remains is still served from the cache; the removed one stays refused (no more fetches: the cooldown)
    expect(await reason(kept)).toBe("jwt-cached");
    expect(await reason(kept)).toBe("jwt-cached");
    expect(await reason(removed)).toBe("key_not_found");
    expect(source.fetches).toBe(2);
  });

  it("keeps serving from the cache a token whose key a rotated key set keeps", async () => {
    published = [a.publicJwk];
    const { source, advance, fetchedTimes } = remote();
    const token = await a.token();
    expect(await reason(token)).toBe("jwt");
    published = [b.publicJwk, a.publicJwk]; // a new key, the old one kept
    advance(301_000);
    expect(await reason(token)).toBe("jwt-cached");
    await fetchedTimes(2);
    expect(await reason(await b.token())).toBe("jwt"); // the new key set is the one in use
    expect(await reason(token)).toBe("jwt-cached");
    expect(await reason(token)).toBe("jwt-cached");
    expect(source.fetches).toBe(2);
  });

  it("refuses a cached token whose kid the issuer now gives to another key", async () => {
    published = [a.publicJwk];
    const { advance, fetchedTimes } = remote();
    const token = await a.token();
    expect(await reason(token)).toBe("jwt");
    published = [{ ...b.publicJwk, kid: a.kid }];
    advance(301_000);
    expect(await reason(token)).toBe("jwt-cached");
    await fetchedTimes(2);
    expect(await reason(token)).toBe("signature_invalid");
  });

  it("refuses a cached token issuer_unavailable, as an uncached one, once its keys are past their stale grace and the issuer is down", async () => {
    published = [a.publicJwk];
    const { source, advance } = remote();
    const token = await a.token();
    expect(await reason(token)).toBe("jwt");
    down = true;
    try {
      // stale but within the grace (an hour): served from the cache while the refetch fails beside it
      advance(301_000);
      expect(await reason(token)).toBe("jwt-cached");
      // past the grace, the keys held are no one's current keys: the cached token waits for the issuer like any other
      advance(3_600_000);
      expect(await reason(token)).toBe("issuer_unavailable");
      expect(await reason(await a.token())).toBe("issuer_unavailable");
      expect(source.fetches).toBe(3);
    } finally {
      down = false;
    }
    // the issuer answers again (after the refetch's cooldown): verified, then served from the cache again
    advance(30_000);
    expect(await reason(token)).toBe("jwt");
    expect(await reason(token)).toBe("jwt-cached");
  });

  it("answers a hit on stale keys at once while the issuer's endpoint hangs", async () => {
    published = [a.publicJwk];
    const { source, advance } = remote();
    const token = await a.token();
    expect(await reason(token)).toBe("jwt");
    held = [];
    try {
      advance(301_000);
      const started = performance.now();
      expect(await reason(token)).toBe("jwt-cached");
      expect(performance.now() - started).toBeLessThan(500);
      await vi.waitFor(() => expect(held?.length).toBe(1), { timeout: 5_000, interval: 10 });
      expect(await reason(token)).toBe("jwt-cached");
      expect(source.fetches).toBe(2);
    } finally {
      for (const res of held ?? []) res.destroy();
      held = undefined;
    }
  });
});
