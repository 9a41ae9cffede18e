// An issuer's JWKS over HTTP: caching, rotation, outages and the refetch budget.
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { IssuerRegistry, RemoteJwks, TokenError, TokenVerifier, type JwksEvent } from "../../src/token/index.js";
import { json, startHttpServer, type TestHttpServer } from "../support/http.js";
import { createTestIssuer, TEST_AUDIENCE } from "../support/issuer.js";
import { captureLog } from "../support/log.js";
import { startTestVerdict } from "../support/verdict.js";

const ISSUER = "https://rotating.example";
let web: TestHttpServer;
let published: JWK[] = [];
let cacheControl = "max-age=300";
let down = false;
/** How long the endpoint takes to answer. */
let answerAfterMs = 0;

interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function newKey(): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, jwk: { ...jwk, kid, alg: "ES256", use: "sig" } };
}

function sign(key: Key, kid = key.kid) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: TEST_AUDIENCE, sub: "u", client_id: "c", jti: randomUUID(), iat: now, exp: now + 300 })
    .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid })
    .sign(key.privateKey);
}

beforeAll(async () => {
  web = await startHttpServer({
    "/jwks": (_, __, res) => {
      const [keys, answer] = [published, () => (down ? res.writeHead(503).end() : json(res, { keys }, { "cache-control": cacheControl }))];
      if (answerAfterMs > 0) setTimeout(answer, answerAfterMs);
      else answer();
    },
  });
});
afterAll(async () => {
  await web?.close();
});

function setup(options: { refreshMs?: number; staleGraceMs?: number; cooldownMs?: number; ownClock?: boolean } = {}) {
  let clock = Date.now();
  const events: JwksEvent[] = [];
  const source = new RemoteJwks(`${web.url}/jwks`, {
    refreshMs: options.refreshMs ?? 600_000,
    staleGraceMs: options.staleGraceMs ?? 3_600_000,
    cooldownMs: options.cooldownMs ?? 30_000,
    timeoutMs: 2_000,
    ...(options.ownClock ? {} : { now: () => clock }),
    onEvent: (event) => events.push(event),
  });
  const verifier = new TokenVerifier(new IssuerRegistry([{ issuer: ISSUER, algorithms: ["ES256"], allowUntypedJwt: false, keys: source }]), {
    clockSkewSeconds: 60,
    maxBytes: 8192,
    cacheEntries: 0,
  });
  const verify = (token: string) => verifier.verify(token, { audience: TEST_AUDIENCE, now: Date.now() / 1000 });
  const reason = (token: string) =>
    verify(token).then(
      () => "ok",
      (error: unknown) => (error instanceof TokenError ? error.reason : String(error)),
    );
  return { source, verify, reason, events, advance: (ms: number) => (clock += ms) };
}

describe("remote JWKS", () => {
  it("fetches once and serves many tokens from the cache", async () => {
    const key = await newKey();
    published = [key.jwk];
    cacheControl = "max-age=300";
    const { source, reason } = setup();
    for (let i = 0; i < 20; i++) expect(await reason(await sign(key))).toBe("ok");
    expect(source.fetches).toBe(1);
  });

  it("refetches when Cache-Control max-age has passed", async () => {
    const key = await newKey();
    published = [key.jwk];
    cacheControl = "public, max-age=120";
    const { source, reason, advance, events } = setup({ refreshMs: 3_600_000 });
    expect(await reason(await sign(key))).toBe("ok");
    advance(119_000);
    expect(await reason(await sign(key))).toBe("ok");
    expect(source.fetches).toBe(1);
    advance(2_000);
    expect(await reason(await sign(key))).toBe("ok");
    expect(source.fetches).toBe(2);
    expect(events.find((e) => e.type === "fetched")).toMatchObject({ freshForMs: 120_000 });
  });

  it("uses the configured interval when the issuer sends no max-age", async () => {
    const key = await newKey();
    published = [key.jwk];
    cacheControl = "no-cache";
    const { source, reason, advance } = setup({ refreshMs: 60_000 });
    expect(await reason(await sign(key))).toBe("ok");
    advance(59_000);
    expect(await reason(await sign(key))).toBe("ok");
    advance(2_000);
    expect(await reason(await sign(key))).toBe("ok");
    expect(source.fetches).toBe(2);
  });

  it("picks up a rotated key when a token names a kid it has not seen", async () => {
    const oldKey = await newKey();
    const newKey_ = await newKey();
    published = [oldKey.jwk];
    cacheControl = "max-age=3600";
    const { source, reason, advance } = setup({ cooldownMs: 30_000 });
    expect(await reason(await sign(oldKey))).toBe("ok");
    published = [oldKey.jwk, newKey_.jwk];
    advance(31_000);
    expect(await reason(await sign(newKey_))).toBe("ok");
    expect(source.fetches).toBe(2);
  });

  it("accepts the first token signed with a key the issuer gave an existing kid, refetching at once rather than at the keys' refresh", async () => {
    const oldKey = await newKey();
    const replacement = await newKey();
    published = [oldKey.jwk];
    cacheControl = "max-age=3600";
    const { source, reason, advance } = setup({ cooldownMs: 30_000 });
    expect(await reason(await sign(oldKey))).toBe("ok");
    published = [{ ...replacement.jwk, kid: oldKey.kid }]; // the kid reused for a new key
    advance(31_000); // past the cooldown; the keys held are fresh for most of an hour yet
    expect(await reason(await sign(replacement, oldKey.kid))).toBe("ok");
    expect(source.fetches).toBe(2);
    // the set now held is the one checked against: the old key's tokens fail, and ask nothing more within the cooldown
    expect(await reason(await sign(oldKey))).toBe("signature_invalid");
    expect(source.fetches).toBe(2);
  });

  it("has every token that comes while a refetch is under way wait for it, under a reused kid or an unknown one", async () => {
    const oldKey = await newKey();
    const replacement = await newKey();
    const added = await newKey();
    published = [oldKey.jwk];
    cacheControl = "max-age=3600";
    const { source, reason, advance } = setup({ cooldownMs: 30_000 });
    expect(await reason(await sign(oldKey))).toBe("ok");
    published = [{ ...replacement.jwk, kid: oldKey.kid }, added.jwk];
    advance(31_000);
    answerAfterMs = 200;
    try {
      const tokens = await Promise.all([...Array.from({ length: 5 }, () => sign(replacement, oldKey.kid)), ...Array.from({ length: 5 }, () => sign(added))]);
      expect(await Promise.all(tokens.map(reason))).toEqual(Array.from({ length: 10 }, () => "ok"));
    } finally {
      answerAfterMs = 0;
    }
    expect(source.fetches).toBe(2);
  });

  it("refetches at most once per cooldown however many signatures fail under a known kid, on the same budget as unknown kids", async () => {
    const key = await newKey();
    const forger = await newKey();
    published = [key.jwk];
    cacheControl = "max-age=3600";
    const { source, reason, advance } = setup({ cooldownMs: 30_000 });
    expect(await reason(await sign(key))).toBe("ok");
    advance(31_000);
    const forged = await Promise.all(Array.from({ length: 100 }, () => sign(forger, key.kid)));
    expect(new Set(await Promise.all(forged.map(reason)))).toEqual(new Set(["signature_invalid"]));
    expect(source.fetches).toBe(2);
    advance(10_000);
    expect(await reason(await sign(forger, key.kid))).toBe("signature_invalid");
    expect(await reason(await sign(key, "attacker-kid"))).toBe("key_not_found");
    expect(source.fetches).toBe(2);
    advance(21_000);
    expect(await reason(await sign(forger, key.kid))).toBe("signature_invalid");
    expect(source.fetches).toBe(3);
    // that refetch spent the unknown kids' budget too
    expect(await reason(await sign(key, "attacker-kid-later"))).toBe("key_not_found");
    expect(source.fetches).toBe(3);
    expect(await reason(await sign(key))).toBe("ok");
  });

  it("does not hold a refusal remembered under a kid's old key against the same token once the new key is fetched", async () => {
    const oldKey = await newKey();
    const replacement = await newKey();
    published = [oldKey.jwk];
    cacheControl = "max-age=3600";
    const { source, reason, advance } = setup({ cooldownMs: 30_000 });
    expect(await reason(await sign(oldKey))).toBe("ok");
    // the issuer gives the kid to a new key; its first token comes within the cooldown of the last fetch: refused, and remembered
    published = [{ ...replacement.jwk, kid: oldKey.kid }];
    advance(10_000);
    const early = await sign(replacement, oldKey.kid);
    expect(await reason(early)).toBe("signature_invalid");
    expect(source.fetches).toBe(1);
    // past the cooldown, another token of the new key has the new set fetched
    advance(21_000);
    expect(await reason(await sign(replacement, oldKey.kid))).toBe("ok");
    expect(source.fetches).toBe(2);
    // the early token, well within its refusal's minute, is checked again under the new keys
    expect(await reason(early)).toBe("ok");
  });

  it("keeps its times on the monotonic clock: a wall clock stepped back an hour neither keeps removed keys fresh nor holds back a rotation's refetch", async () => {
    const oldKey = await newKey();
    const newKey_ = await newKey();
    published = [oldKey.jwk];
    cacheControl = "no-store"; // fresh for refreshMs
    const wall = Date.now.bind(Date);
    let stepped = 0;
    vi.spyOn(Date, "now").mockImplementation(() => wall() - stepped); // the wall clock, as the source would read it; tokens are signed and checked at it
    try {
      const { source, reason } = setup({ refreshMs: 200, cooldownMs: 200, ownClock: true });
      expect(await reason(await sign(oldKey))).toBe("ok");
      await new Promise((resolve) => setTimeout(resolve, 300)); // stale now, and past the cooldown
      stepped = 3_600_000; // an NTP correction
      published = [newKey_.jwk]; // rotated: the old key removed
      expect(await reason(await sign(oldKey))).toBe("ok"); // stale keys answer while they are refetched beside
      await expect.poll(() => source.fetches, { timeout: 2_000, interval: 20 }).toBe(2);
      await expect.poll(async () => reason(await sign(oldKey)), { timeout: 2_000, interval: 20 }).not.toBe("ok");
      expect(await reason(await sign(newKey_))).toBe("ok");
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("refetches at most once per cooldown however many unknown kids arrive", async () => {
    const key = await newKey();
    published = [key.jwk];
    cacheControl = "max-age=3600";
    const { source, reason, advance } = setup({ cooldownMs: 30_000 });
    expect(await reason(await sign(key))).toBe("ok");
    advance(31_000);
    const forged = await Promise.all(Array.from({ length: 100 }, (_, i) => sign(key, `attacker-${i}`)));
    const reasons = await Promise.all(forged.map(reason));
    expect(new Set(reasons)).toEqual(new Set(["key_not_found"]));
    expect(source.fetches).toBe(2);
    advance(10_000);
    expect(await reason(await sign(key, "attacker-again"))).toBe("key_not_found");
    expect(source.fetches).toBe(2);
    advance(21_000);
    expect(await reason(await sign(key, "attacker-later"))).toBe("key_not_found");
    expect(source.fetches).toBe(3);
  });

  it("keeps using stale keys for the grace period while the issuer is down, then fails closed", async () => {
    const key = await newKey();
    published = [key.jwk];
    cacheControl = "max-age=60";
    const { reason, advance, events } = setup({ staleGraceMs: 600_000, cooldownMs: 30_000 });
    expect(await reason(await sign(key))).toBe("ok");
    down = true;
    try {
      advance(120_000); // stale by 60 s, within grace: answered at once, refetched beside it
      expect(await reason(await sign(key))).toBe("ok");
      // once that refetch has failed, serving stale keys is an event (logged)
      await vi.waitFor(() => expect(events.some((e) => e.type === "fetch_failed")).toBe(true));
      expect(await reason(await sign(key))).toBe("ok");
      expect(events.some((e) => e.type === "serving_stale")).toBe(true);
      advance(600_000); // stale beyond grace
      expect(await reason(await sign(key))).toBe("issuer_unavailable");
    } finally {
      down = false;
    }
    advance(31_000);
    expect(await reason(await sign(key))).toBe("ok");
  });

  it("fails closed with issuer_unavailable when the first fetch fails", async () => {
    const key = await newKey();
    down = true;
    try {
      expect(await setup().reason(await sign(key))).toBe("issuer_unavailable");
    } finally {
      down = false;
    }
  });

  it("shares one request between concurrent verifications", async () => {
    const key = await newKey();
    published = [key.jwk];
    const { source, reason } = setup();
    const tokens = await Promise.all(Array.from({ length: 30 }, () => sign(key)));
    expect(new Set(await Promise.all(tokens.map(reason)))).toEqual(new Set(["ok"]));
    expect(source.fetches).toBe(1);
  });
});

describe("a running Verdict whose issuer's JWKS endpoint goes down", () => {
  it("keeps verifying with the cached keys within the stale grace, then denies issuer_unavailable, and recovers when the endpoint returns", async () => {
    const issuer = await createTestIssuer({ issuer: "https://jwks-down.example" });
    let endpointDown = false;
    web.routes.set("/verdict-jwks", (_, __, res) =>
      endpointDown ? res.writeHead(503).end() : json(res, { keys: [issuer.publicJwk] }, { "cache-control": "no-cache" }),
    );
    const captured = captureLog();
    // Keys fresh for 1 s, then usable stale for 3 s more: the defaults (600 s, 3,600 s) shortened so the test
    // sees both ends; no cooldown, so every call past freshness asks the endpoint again.
    const t = await startTestVerdict({
      issuer,
      log: captured.log,
      config: {
        issuers: [
          {
            issuer: issuer.issuer,
            jwks_uri: `${web.url}/verdict-jwks`,
            algorithms: ["ES256"],
            jwks_refresh_seconds: 1,
            jwks_stale_grace_seconds: 3,
            jwks_cooldown_seconds: 0,
          },
        ],
      },
    });
    try {
      // every Check has a fresh token (new jti), so the verified-token cache never answers for the keys
      const read = async () => t.client.check({ token: await issuer.token({ scope: "invoices:read" }), action: "invoices:read" });
      expect((await read()).decision).toBe("ALLOW");
      const fetchedAt = Date.now();
      endpointDown = true;

      // stale but within the grace: still verified; once a refetch has failed, the log says it serves stale keys
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect((await read()).decision).toBe("ALLOW");
      await vi.waitFor(() => expect(captured.lines().some((l) => l["msg"] === "issuer keys" && l["type"] === "fetch_failed")).toBe(true));
      expect((await read()).decision).toBe("ALLOW");
      expect(captured.lines().some((l) => l["msg"] === "issuer keys" && l["type"] === "serving_stale")).toBe(true);

      // past the grace: every token is refused, fail closed, with the reason a client can act on
      await vi.waitFor(async () => expect(Date.now() - fetchedAt).toBeGreaterThan(4_200), { timeout: 10_000, interval: 100 });
      const refused = await read();
      expect(refused).toMatchObject({ decision: "DENY", reasons: [{ code: "issuer_unavailable" }] });
      // no invalid_token challenge: the token is not known to be bad (a client told so would throw it away); HTTP says 503
      expect(refused.challenge).toBeUndefined();
      expect(captured.lines().some((l) => l["msg"] === "issuer keys" && l["type"] === "fetch_failed" && /HTTP 503/.test(String(l["error"])))).toBe(true);

      endpointDown = false;
      expect((await read()).decision).toBe("ALLOW");
    } finally {
      await t.stop();
      web.routes.delete("/verdict-jwks");
    }
  });
});

describe("a running Verdict whose issuer's JWKS endpoint stops answering", () => {
  it("answers with the cached keys at once while they are within the grace, instead of waiting for the endpoint's timeout", async () => {
    const issuer = await createTestIssuer({ issuer: "https://jwks-hangs.example" });
    let hanging = false;
    const held: ServerResponse[] = [];
    web.routes.set("/hanging-jwks", (_, __, res) => (hanging ? held.push(res) : json(res, { keys: [issuer.publicJwk] }, { "cache-control": "no-cache" })));
    // fresh for 1 s (and asked again at most once a second), then stale within the default grace (an hour); the
    // endpoint's timeout is the default 3 s
    const t = await startTestVerdict({
      issuer,
      config: {
        issuers: [{ issuer: issuer.issuer, jwks_uri: `${web.url}/hanging-jwks`, algorithms: ["ES256"], jwks_refresh_seconds: 1, jwks_cooldown_seconds: 1 }],
      },
    });
    try {
      const read = async () => t.client.check({ token: await issuer.token({ scope: "invoices:read" }), action: "invoices:read" });
      expect((await read()).decision).toBe("ALLOW");
      hanging = true;
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 5 }, read));
      const elapsed = Date.now() - started;
      expect(answers.map((a) => a.decision)).toEqual(["ALLOW", "ALLOW", "ALLOW", "ALLOW", "ALLOW"]);
      // the endpoint was asked (in the background), and nobody waited for it
      await vi.waitFor(() => expect(held.length).toBeGreaterThan(0), { timeout: 5_000 });
      expect(elapsed).toBeLessThan(1_500);
    } finally {
      for (const res of held) res.destroy();
      await t.stop();
      web.routes.delete("/hanging-jwks");
    }
  });
});
