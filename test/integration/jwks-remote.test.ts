// An issuer's JWKS over HTTP: caching, rotation, outages and the refetch budget.
import { randomUUID } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IssuerRegistry, RemoteJwks, TokenError, TokenVerifier, type JwksEvent } from "../../src/token/index.js";
import { json, startHttpServer, type TestHttpServer } from "../support/http.js";
import { TEST_AUDIENCE } from "../support/issuer.js";

const ISSUER = "https://rotating.example";
let web: TestHttpServer;
let published: JWK[] = [];
let cacheControl = "max-age=300";
let down = false;

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
    "/jwks": (_, __, res) => (down ? res.writeHead(503).end() : json(res, { keys: published }, { "cache-control": cacheControl })),
  });
});
afterAll(async () => {
  await web?.close();
});

function setup(options: { refreshMs?: number; staleGraceMs?: number; cooldownMs?: number } = {}) {
  let clock = Date.now();
  const events: JwksEvent[] = [];
  const source = new RemoteJwks(`${web.url}/jwks`, {
    refreshMs: options.refreshMs ?? 600_000,
    staleGraceMs: options.staleGraceMs ?? 3_600_000,
    cooldownMs: options.cooldownMs ?? 30_000,
    timeoutMs: 2_000,
    now: () => clock,
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
      advance(120_000); // stale by 60 s, within grace
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
