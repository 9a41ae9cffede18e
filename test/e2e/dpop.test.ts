// Sender-constrained tokens (RFC 9449) through a running Verdict.
import { createHash, randomUUID } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;
let client: { privateKey: CryptoKey; jwk: JWK; jkt: string };
let bound: string;
const URL_ = "https://invoices.example/invoices/inv-1/dispute";

beforeAll(async () => {
  t = await startTestVerdict();
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  client = { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
  bound = await t.issuer.token({ cnf: { jkt: client.jkt } });
});
afterAll(async () => {
  await t?.stop();
});

function proof(options: { htm?: string; htu?: string; token?: string; iat?: number; jti?: string; typ?: string; key?: CryptoKey; jwk?: JWK } = {}) {
  return new SignJWT({
    htm: options.htm ?? "POST",
    htu: options.htu ?? URL_,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    jti: options.jti ?? randomUUID(),
    ath: createHash("sha256")
      .update(options.token ?? bound)
      .digest("base64url"),
  })
    .setProtectedHeader({ alg: "ES256", typ: options.typ ?? "dpop+jwt", jwk: options.jwk ?? client.jwk })
    .sign(options.key ?? client.privateKey);
}

async function check(dpop?: { proof: string; method?: string; url?: string }, token = bound) {
  return t.client.check({
    token,
    action: "invoices:read",
    ...(dpop ? { dpop: { proof: dpop.proof, method: dpop.method ?? "POST", url: dpop.url ?? URL_ } } : {}),
  });
}

describe("DPoP-bound tokens", () => {
  it("allow a request with a valid proof", async () => {
    expect((await check({ proof: await proof() })).decision).toBe("ALLOW");
  });

  it("accept a request URL with a query string and an upper-case host", async () => {
    expect((await check({ proof: await proof(), url: "https://INVOICES.example:443/invoices/inv-1/dispute?x=1#f" })).decision).toBe("ALLOW");
  });

  it("refuse a request without a proof, with an invalid_dpop_proof challenge", async () => {
    const response = await check();
    expect(response).toMatchObject({ decision: "DENY", reasons: [{ code: "dpop_invalid" }], challenge: { error: "invalid_dpop_proof" } });
    expect(response.principal).toBeUndefined();
  });

  it("refuse a proof replayed on a second request", async () => {
    const once = await proof();
    expect((await check({ proof: once })).decision).toBe("ALLOW");
    expect((await check({ proof: once })).reasons.map((r) => r.code)).toEqual(["dpop_replayed"]);
  });

  it("let exactly one of 20 concurrent uses of one proof through", async () => {
    const once = await proof();
    const responses = await Promise.all(Array.from({ length: 20 }, () => check({ proof: once })));
    expect(responses.filter((r) => r.decision === "ALLOW")).toHaveLength(1);
    expect(responses.filter((r) => r.reasons[0]?.code === "dpop_replayed")).toHaveLength(19);
  });

  it.each([
    ["for another method", async () => ({ proof: await proof({ htm: "GET" }) })],
    ["for another URL", async () => ({ proof: await proof({ htu: "https://invoices.example/invoices/inv-2/dispute" }) })],
    ["for another access token (ath)", async () => ({ proof: await proof({ token: "another-token" }) })],
    ["issued long ago", async () => ({ proof: await proof({ iat: Math.floor(Date.now() / 1000) - 3600 }) })],
    ["issued in the future", async () => ({ proof: await proof({ iat: Math.floor(Date.now() / 1000) + 3600 }) })],
    ["typed as a plain JWT", async () => ({ proof: await proof({ typ: "JWT" }) })],
    [
      "signed by a key the token is not bound to",
      async () => {
        const other = await generateKeyPair("ES256", { extractable: true });
        return { proof: await proof({ key: other.privateKey, jwk: await exportJWK(other.publicKey) }) };
      },
    ],
    [
      "whose signature is not by its own jwk",
      async () => {
        const other = await generateKeyPair("ES256");
        return { proof: await proof({ key: other.privateKey }) };
      },
    ],
    [
      "carrying a private key",
      async () => {
        const { privateKey } = await generateKeyPair("ES256", { extractable: true });
        return { proof: await proof({ jwk: await exportJWK(privateKey) }) };
      },
    ],
  ])("refuse a proof %s with dpop_invalid", async (_, make) => {
    const response = await check(await make());
    expect(response.decision).toBe("DENY");
    expect(response.reasons.map((r) => r.code)).toEqual(["dpop_invalid"]);
    expect(response.challenge?.error).toBe("invalid_dpop_proof");
  });

  it("reject a malformed dpop field at the edge with INVALID_ARGUMENT", async () => {
    const result = await t.client.call({ token: bound, action: "invoices:read", dpop: { proof: await proof(), method: "post", url: URL_ } });
    expect(result).toMatchObject({ ok: false, code: 3 });
  });

  it("ignore a proof sent with a token that is not bound to a key", async () => {
    const plain = await t.issuer.token();
    expect((await check({ proof: await proof({ token: plain }) }, plain)).decision).toBe("ALLOW");
  });
});
