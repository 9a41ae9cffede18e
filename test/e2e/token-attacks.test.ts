// The classic attacks on JWT access tokens, each sent to a running Verdict over
// gRPC, each followed by a valid request: every one is refused with a stable
// reason, and the server keeps serving.
import { createHash, createPrivateKey, createPublicKey, createSign, randomUUID } from "node:crypto";
import { CompactEncrypt, exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, startHttpServer, type TestHttpServer } from "../support/http.js";
import { TEST_AUDIENCE } from "../support/issuer.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;
let web: TestHttpServer;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  t = await startTestVerdict();
  web = await startHttpServer({ "/attacker-jwks": (_, __, res) => json(res, { keys: [] }) });
});
afterAll(async () => {
  await t?.stop();
  await web?.close();
});

const b64 = (value: unknown) => (Buffer.isBuffer(value) ? value : Buffer.from(typeof value === "string" ? value : JSON.stringify(value))).toString("base64url");

function claims(extra: Record<string, unknown> = {}) {
  return {
    iss: t.issuer.issuer,
    aud: TEST_AUDIENCE,
    sub: "user-123",
    client_id: "agent-7",
    iat: now(),
    exp: now() + 300,
    jti: randomUUID(),
    scope: "invoices:read",
    ...extra,
  };
}

/** Signs any header and payload (text, or raw bytes) with the trusted issuer's key, bypassing jose's own checks. */
async function signRaw(header: Record<string, unknown> | Buffer, payloadText: string | Buffer): Promise<string> {
  const input = `${b64(header)}.${b64(payloadText)}`;
  const key = createPrivateKey({ key: (await exportJWK(t.issuer.privateKey)) as never, format: "jwk" });
  return `${input}.${createSign("SHA256").update(input).sign({ key, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
}

/** Sends the token, expects the reason, then proves the server still answers a valid request. */
async function refused(token: string, code: string | RegExp) {
  const response = await t.client.check({ token, action: "invoices:read" });
  expect(response.decision).toBe("DENY");
  expect(response.challenge?.error).toBe("invalid_token");
  expect(response.principal).toBeUndefined();
  if (typeof code === "string") expect(response.reasons.map((r) => r.code)).toEqual([code]);
  else expect(response.reasons[0]?.code).toMatch(code);
  // the description is safe to show: it never echoes the token
  if (token !== "") expect(response.challenge?.description).not.toContain(token.slice(0, 20));
  const next = await t.client.check({ token: await t.issuer.token(), action: "invoices:read" });
  expect(next.decision).toBe("ALLOW");
}

describe("attacks on the algorithm", () => {
  it.each(["none", "None", "NONE", "nOnE"])("refuses alg %s", async (alg) => {
    await refused(`${b64({ alg, typ: "at+jwt" })}.${b64(claims())}.`, "algorithm_not_allowed");
  });

  it("refuses an HS256 token whose HMAC key is the issuer's public key (JWK and PEM)", async () => {
    const publicPem = createPublicKey({ key: t.issuer.publicJwk as never, format: "jwk" }).export({ type: "spki", format: "pem" });
    for (const secret of [JSON.stringify(t.issuer.publicJwk), String(publicPem)]) {
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: t.issuer.kid }).sign(new TextEncoder().encode(secret));
      await refused(token, "algorithm_not_allowed");
    }
  });

  it("refuses an RS256 token when the issuer allows only ES256", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid: t.issuer.kid }).sign(privateKey);
    await refused(token, "algorithm_not_allowed");
  });
});

describe("attacks on the signature", () => {
  it("refuses a stripped signature", async () => {
    const [header, payload] = (await t.issuer.token()).split(".");
    await refused(`${header}.${payload}.`, "signature_invalid");
  });

  it("refuses a signature transplanted from another valid token", async () => {
    const [header, payload] = (await t.issuer.token({ scope: "invoices:write" })).split(".");
    const [, , signature] = (await t.issuer.token()).split(".");
    await refused(`${header}.${payload}.${signature}`, "signature_invalid");
  });

  it("refuses an ECDSA signature with r = s = 0 (the 'psychic signature')", async () => {
    const [header, payload] = (await t.issuer.token()).split(".");
    await refused(`${header}.${payload}.${Buffer.alloc(64).toString("base64url")}`, "signature_invalid");
  });

  it("refuses a DER-encoded ECDSA signature (JWS uses raw r||s)", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const header = b64({ alg: "ES256", typ: "at+jwt", kid: t.issuer.kid });
    const payload = b64(claims());
    const der = createSign("SHA256")
      .update(`${header}.${payload}`)
      .sign(privateKey as never);
    await refused(`${header}.${payload}.${der.toString("base64url")}`, "signature_invalid");
  });

  it("refuses a token signed by the attacker's own key", async () => {
    const { privateKey } = await generateKeyPair("ES256");
    await refused(await new SignJWT(claims()).setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: t.issuer.kid }).sign(privateKey), "signature_invalid");
  });
});

describe("attacks through key headers", () => {
  it.each([
    ["an unknown kid", "made-up-kid"],
    ["a kid with path characters", "../../../../etc/passwd"],
    ["a kid with a NUL and SQL", "x'\u0000 OR 1=1 --"],
  ])("refuses %s with key_not_found", async (_, kid) => {
    await refused(await t.issuer.token({}, { kid }), "key_not_found");
  });

  it("refuses a token that embeds its own jwk, even one that verifies its signature", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const jwk = await exportJWK(publicKey);
    await refused(await new SignJWT(claims()).setProtectedHeader({ alg: "ES256", typ: "at+jwt", jwk }).sign(privateKey), "header_not_allowed");
  });

  it.each(["jku", "x5u"])("refuses a %s header and never fetches it", async (header) => {
    const before = web.hits.get("/attacker-jwks") ?? 0;
    await refused(await t.issuer.token({}, { [header]: `${web.url}/attacker-jwks` }), "header_not_allowed");
    expect(web.hits.get("/attacker-jwks") ?? 0).toBe(before);
  });

  it("refuses an x5c header", async () => {
    await refused(await t.issuer.token({}, { x5c: ["MIIBszCCAVmgAwIBAgIUBogus"] }), "header_not_allowed");
  });

  it("refuses crit extensions it does not understand", async () => {
    const token = await signRaw(
      { alg: "ES256", typ: "at+jwt", kid: t.issuer.kid, crit: ["urn:example:policy"], "urn:example:policy": 1 },
      JSON.stringify(claims()),
    );
    await refused(token, "header_not_allowed");
  });

  it("refuses a zip header: compression is JWE's (RFC 7516), and no JWS Verdict accepts is compressed", async () => {
    await refused(await signRaw({ alg: "ES256", typ: "at+jwt", kid: t.issuer.kid, zip: "DEF" }, JSON.stringify(claims())), "header_not_allowed");
  });

  it("accepts the same header without crit, so the refusal above is about crit", async () => {
    const token = await signRaw({ alg: "ES256", typ: "at+jwt", kid: t.issuer.kid, "urn:example:policy": 1 }, JSON.stringify(claims()));
    expect((await t.client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");
  });
});

describe("attacks through claims and shape", () => {
  it("refuses an expired token and one not yet valid", async () => {
    await refused(await t.issuer.token({ exp: now() - 3600, iat: now() - 7200 }), "token_expired");
    await refused(await t.issuer.token({ nbf: now() + 3600 }), "token_not_yet_valid");
  });

  it("refuses an exp of 1e300 (which would make its single-use key never expire) and an auth_time in the future", async () => {
    await refused(await t.issuer.token({ exp: 1e300 }), "token_lifetime_too_long");
    await refused(await t.issuer.token({ auth_time: now() + 86_400 }), "auth_time_invalid");
  });

  it("decides a token whose times have fractions of a second (RFC 7519 NumericDate), answering them in whole seconds", async () => {
    // An issuer that stamps time.time(): until 2026-12-07 every such Check was decided, applied and audited, then
    // failed INTERNAL as its answer could not be written (int64 fields), leaving the caller without its decision.
    const exp = now() + 300.5;
    const authTime = now() - 10.25;
    const response = await t.client.check({ token: await t.issuer.token({ exp, auth_time: authTime, iat: now() - 0.75 }), action: "invoices:read" });
    expect(response.decision).toBe("ALLOW");
    expect(response.principal).toMatchObject({ expires_at: Math.floor(exp), auth_time: Math.floor(authTime) });
  });

  it("refuses an auth_time before 1970, which no answer can carry", async () => {
    await refused(await t.issuer.token({ auth_time: -1 }), "auth_time_invalid");
    await refused(await t.issuer.token({ auth_time: -1e19 }), "auth_time_invalid");
  });

  it("refuses a wrong issuer and a missing one", async () => {
    await refused(await t.issuer.token({ iss: "https://evil.example" }), "issuer_unknown");
    await refused(await t.issuer.token({ iss: undefined }), "claim_missing");
  });

  it("refuses a token for another audience and one without aud", async () => {
    await refused(await t.issuer.token({ aud: "https://payments.example" }), "audience_mismatch");
    await refused(await t.issuer.token({ aud: undefined }), "claim_missing");
  });

  it("refuses an ID token presented as an access token", async () => {
    const idToken = await t.issuer.token(
      { aud: TEST_AUDIENCE, nonce: "n-0S6_WzA2Mj", at_hash: "HK6E_P6Dh8Y93mRNtsDB1Q", client_id: undefined, scope: undefined, auth_time: now() },
      { typ: "JWT" },
    );
    await refused(idToken, "typ_invalid");
  });

  it("refuses a signed token that repeats a claim, so that parsers could disagree", async () => {
    const body = JSON.stringify(claims()).replace(/}$/, ',"sub":"admin"}');
    await refused(await signRaw({ alg: "ES256", typ: "at+jwt", kid: t.issuer.kid }, body), "claim_duplicate");
  });

  it("refuses a validly signed payload that is not UTF-8 (a 0xFF byte inside sub)", async () => {
    const [before, after] = JSON.stringify(claims({ sub: "user-X" })).split("user-X") as [string, string];
    const payload = Buffer.concat([Buffer.from(`${before}user-`), Buffer.from([0xff]), Buffer.from(after)]);
    await refused(await signRaw({ alg: "ES256", typ: "at+jwt", kid: t.issuer.kid }, payload), "token_malformed");
  });

  it("refuses a validly signed header that is not UTF-8", async () => {
    const header = Buffer.concat([Buffer.from(`{"alg":"ES256","typ":"at+jwt","kid":"${t.issuer.kid}","x":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    await refused(await signRaw(header, JSON.stringify(claims())), "token_malformed");
  });

  it("refuses a header that repeats a member", async () => {
    const input = `${b64('{"alg":"ES256","typ":"at+jwt","alg":"none"}')}.${b64(claims())}`;
    await refused(`${input}.AAAA`, "claim_duplicate");
  });

  it.each([
    ["sub as a number", { sub: 42 }],
    ["client_id as an array", { client_id: ["agent-7"] }],
    ["exp as a string", { exp: String(now() + 60) }],
    ["aud as a number", { aud: 5 }],
    ["jti as an object", { jti: { id: 1 } }],
    ["scope as an array", { scope: ["invoices:read"] }],
    ["act as a string", { act: "agent-9" }],
    ["cnf.jkt that is not a thumbprint", { cnf: { jkt: "x" } }],
  ])("refuses %s with claim_type_invalid", async (_, extra) => {
    await refused(await t.issuer.token(extra), "claim_type_invalid");
  });

  it.each([
    ["a client certificate (RFC 8705 cnf x5t#S256)", { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }],
    [
      "an embedded key (cnf jwk)",
      { jwk: { kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" } },
    ],
  ])("refuses a token bound to %s, which Verdict cannot check, with confirmation_unsupported rather than as a bearer token", async (_, cnf) => {
    await refused(await t.issuer.token({ cnf }), "confirmation_unsupported");
  });

  it.each([
    ["an empty string", ""],
    ["one segment", "eyJhbGciOiJFUzI1NiJ9"],
    ["four segments", "a.b.c.d"],
    ["non-base64 characters", "e30.e30.***"],
    ["a header that is an array", `${b64([])}.${b64({})}.sig`],
    ["a payload that is not JSON", `${b64({ alg: "ES256", typ: "at+jwt" })}.${b64("not json")}.sig`],
    ["a kid that is a number", `${b64({ alg: "ES256", typ: "at+jwt", kid: 7 })}.${b64({})}.sig`],
  ])("refuses %s as missing or malformed", async (_, token) => {
    await refused(token, /^token_(missing|malformed)$/);
  });

  it("refuses a JWE", async () => {
    const { publicKey } = await generateKeyPair("RSA-OAEP-256");
    const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(claims())))
      .setProtectedHeader({ alg: "RSA-OAEP-256", enc: "A256GCM" })
      .encrypt(publicKey);
    await refused(jwe, "token_encrypted");
  });

  it("refuses an oversize token before parsing it", async () => {
    await refused(await t.issuer.token({ filler: "x".repeat(10_000) }), "token_too_large");
  });

  it("never puts the token in the response", async () => {
    const token = await t.issuer.token({ exp: now() - 3600, iat: now() - 7200 });
    const response = await t.client.check({ token, action: "invoices:read" });
    const hash = createHash("sha256").update(token).digest("hex");
    expect(JSON.stringify(response)).not.toContain(token);
    expect(JSON.stringify(response)).not.toContain(hash);
  });

  it("answers 200 concurrent attack tokens and valid tokens correctly", async () => {
    const valid = await t.issuer.token();
    const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => t.issuer.token({}, { kid: `bogus-${i}` })));
    const responses = await Promise.all(
      [...tokens, ...Array.from({ length: 100 }, () => valid)].map((token) => t.client.check({ token, action: "invoices:read" })),
    );
    expect(responses.slice(0, 100).every((r) => r.reasons[0]?.code === "key_not_found")).toBe(true);
    expect(responses.slice(100).every((r) => r.decision === "ALLOW")).toBe(true);
  });
});
