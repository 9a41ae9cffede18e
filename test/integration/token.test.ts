// Token verification with real keys and real signatures (issue 2's rules; the
// attack catalogue grows with the token issue).
import { SignJWT, CompactEncrypt, generateKeyPair } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { IssuerRegistry, TokenError, TokenVerifier } from "../../src/token/index.js";
import { SUPPORTED_ALGORITHMS } from "../../src/token/config.js";
import { createTestIssuer, issuerConfig, TEST_AUDIENCE, type TestIssuer } from "../support/issuer.js";

let issuer: TestIssuer;
let verifier: TokenVerifier;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  issuer = await createTestIssuer();
  verifier = new TokenVerifier(IssuerRegistry.fromConfig([issuerConfig(issuer)]), { clockSkewSeconds: 60, maxBytes: 8192, cacheEntries: 0 });
});

async function reasonFor(token: string, audience = TEST_AUDIENCE): Promise<string> {
  try {
    await verifier.verify(token, { audience, now: Date.now() / 1000 });
  } catch (error) {
    if (error instanceof TokenError) return error.reason;
    throw error;
  }
  return "ok";
}

describe("access token verification", () => {
  it("accepts a valid at+jwt and returns its principal and hash (never the token)", async () => {
    const token = await issuer.token({ scope: "invoices:read invoices:write", client_type: "ai-agent" });
    const verified = await verifier.verify(token, { audience: TEST_AUDIENCE, now: now() });
    expect(verified.principal).toMatchObject({ subject: "user-123", clientId: "agent-7", clientType: "ai-agent", scopes: ["invoices:read", "invoices:write"] });
    expect(verified.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(verified)).not.toContain(token);
  });

  it("accepts typ application/at+jwt", async () => {
    expect(await reasonFor(await issuer.token({}, { typ: "application/at+jwt" }))).toBe("ok");
  });

  it.each([
    ["typ JWT (an ID token or a generic JWT)", { typ: "JWT" }],
    ["no typ", { typ: undefined }],
  ])("refuses %s with typ_invalid", async (_, header) => {
    expect(await reasonFor(await issuer.token({}, header as never))).toBe("typ_invalid");
  });

  it("refuses a token for another API with audience_mismatch", async () => {
    expect(await reasonFor(await issuer.token({ aud: "https://payments.example" }))).toBe("audience_mismatch");
  });

  it("accepts a token whose aud array includes the caller's audience", async () => {
    expect(await reasonFor(await issuer.token({ aud: ["https://payments.example", TEST_AUDIENCE] }))).toBe("ok");
  });

  it("refuses an unknown issuer, and an issuer that differs only in a trailing slash", async () => {
    expect(await reasonFor(await issuer.token({ iss: "https://evil.example" }))).toBe("issuer_unknown");
    expect(await reasonFor(await issuer.token({ iss: `${issuer.issuer}/` }))).toBe("issuer_unknown");
  });

  it("honours exactly 60 s of skew on exp", async () => {
    expect(await reasonFor(await issuer.token({ exp: now() - 50 }))).toBe("ok");
    expect(await reasonFor(await issuer.token({ exp: now() - 70 }))).toBe("token_expired");
  });

  it("refuses an exp beyond the maximum lifetime (24 h by default), from now or from iat", async () => {
    expect(await reasonFor(await issuer.token({ exp: 1e300 }))).toBe("token_lifetime_too_long");
    expect(await reasonFor(await issuer.token({ exp: now() + 25 * 3600 }))).toBe("token_lifetime_too_long");
    expect(await reasonFor(await issuer.token({ iat: now() - 7200, exp: now() - 7200 + 86_400 + 120 }))).toBe("token_lifetime_too_long");
    expect(await reasonFor(await issuer.token({ exp: now() + 23 * 3600 }))).toBe("ok");
    const short = new TokenVerifier(IssuerRegistry.fromConfig([issuerConfig(issuer)]), {
      clockSkewSeconds: 60,
      maxBytes: 8192,
      cacheEntries: 0,
      maxLifetimeSeconds: 300,
    });
    await expect(short.verify(await issuer.token({ exp: now() + 600 }), { audience: TEST_AUDIENCE, now: now() })).rejects.toMatchObject({
      code: "invalid_token",
      reason: "token_lifetime_too_long",
    });
  });

  it("refuses an auth_time in the future beyond the skew, which would satisfy every max_age", async () => {
    expect(await reasonFor(await issuer.token({ auth_time: now() + 3600 }))).toBe("auth_time_invalid");
    expect(await reasonFor(await issuer.token({ auth_time: 1e300 }))).toBe("auth_time_invalid");
    expect(await reasonFor(await issuer.token({ auth_time: now() + 50 }))).toBe("ok");
    expect(await reasonFor(await issuer.token({ auth_time: now() - 50 }))).toBe("ok");
  });

  it("honours exactly 60 s of skew on nbf and iat", async () => {
    expect(await reasonFor(await issuer.token({ nbf: now() + 50 }))).toBe("ok");
    expect(await reasonFor(await issuer.token({ nbf: now() + 70 }))).toBe("token_not_yet_valid");
    expect(await reasonFor(await issuer.token({ iat: now() + 70 }))).toBe("token_not_yet_valid");
  });

  it.each(["sub", "client_id", "exp", "iat", "jti", "aud"])("refuses a token without %s with claim_missing", async (claim) => {
    expect(await reasonFor(await issuer.token({ [claim]: undefined }))).toBe("claim_missing");
  });

  it.each([
    ["sub", 42],
    ["client_id", ["a"]],
    ["exp", "tomorrow"],
    ["iat", "now"],
  ])("refuses a %s of the wrong type with claim_type_invalid", async (claim, value) => {
    expect(await reasonFor(await issuer.token({ [claim]: value }))).toBe("claim_type_invalid");
  });

  it("refuses a token signed by another key with the issuer's kid", async () => {
    const { privateKey } = await generateKeyPair("ES256");
    const forged = await new SignJWT({ iss: issuer.issuer, aud: TEST_AUDIENCE, sub: "u", client_id: "c", jti: "j" })
      .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: issuer.kid })
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
    expect(await reasonFor(forged)).toBe("signature_invalid");
  });

  it("refuses an edited payload under the original signature", async () => {
    const [header, , signature] = (await issuer.token({ scope: "invoices:read" })).split(".");
    const edited = Buffer.from(
      JSON.stringify({ iss: issuer.issuer, aud: TEST_AUDIENCE, sub: "admin", client_id: "c", iat: now(), exp: now() + 60, jti: "j", scope: "admin" }),
    ).toString("base64url");
    expect(await reasonFor(`${header}.${edited}.${signature}`)).toBe("signature_invalid");
  });

  it("refuses alg none in any letter case", async () => {
    const payload = Buffer.from(
      JSON.stringify({ iss: issuer.issuer, aud: TEST_AUDIENCE, sub: "u", client_id: "c", iat: now(), exp: now() + 60, jti: "j" }),
    ).toString("base64url");
    for (const alg of ["none", "None", "NONE", "nOnE"]) {
      const header = Buffer.from(JSON.stringify({ alg, typ: "at+jwt" })).toString("base64url");
      expect(await reasonFor(`${header}.${payload}.`)).toBe("algorithm_not_allowed");
    }
  });

  it.each(SUPPORTED_ALGORITHMS)("verifies a %s token, and refuses it with one byte of its payload changed", async (alg) => {
    const other = await createTestIssuer({ alg });
    const otherVerifier = new TokenVerifier(IssuerRegistry.fromConfig([issuerConfig(other)]), { clockSkewSeconds: 60, maxBytes: 8192, cacheEntries: 0 });
    const token = await other.token({ sub: "user-A" });
    const verified = await otherVerifier.verify(token, { audience: TEST_AUDIENCE, now: now() });
    expect(verified.principal.subject).toBe("user-A");
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const edited = Buffer.from(Buffer.from(payload, "base64url").toString().replace("user-A", "user-B")).toString("base64url");
    await expect(otherVerifier.verify(`${header}.${edited}.${signature}`, { audience: TEST_AUDIENCE, now: now() })).rejects.toMatchObject({
      reason: "signature_invalid",
    });
  });

  it("refuses an algorithm the issuer does not allow", async () => {
    const rsa = await createTestIssuer({ alg: "RS256" });
    expect(await reasonFor(await rsa.token())).toBe("algorithm_not_allowed");
  });

  it("refuses a token with an unknown kid with key_not_found", async () => {
    expect(await reasonFor(await issuer.token({}, { kid: "not-a-known-kid" }))).toBe("key_not_found");
  });

  it.each([
    ["mutual TLS (RFC 8705 x5t#S256)", { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }],
    [
      "an embedded jwk",
      { jwk: { kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" } },
    ],
    ["a jku", { jku: "https://client.example/jwks.json" }],
    ["nothing at all", {}],
  ])("refuses a token bound by %s, which Verdict cannot check, with confirmation_unsupported (not as a bearer token)", async (_, cnf) => {
    expect(await reasonFor(await issuer.token({ cnf }))).toBe("confirmation_unsupported");
  });

  it("takes a cnf with jkt beside another confirmation method as bound to the jkt key (DPoP enforced)", async () => {
    const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    const token = await issuer.token({ cnf: { jkt, "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } });
    const verified = await verifier.verify(token, { audience: TEST_AUDIENCE, now: now() });
    expect(verified.principal.confirmationJkt).toBe(jkt);
  });

  it("refuses a JWE", async () => {
    const { publicKey } = await generateKeyPair("ECDH-ES+A256KW");
    const jwe = await new CompactEncrypt(new TextEncoder().encode("{}")).setProtectedHeader({ alg: "ECDH-ES+A256KW", enc: "A256GCM" }).encrypt(publicKey);
    expect(await reasonFor(jwe)).toBe("token_encrypted");
  });

  it("refuses a token over the size limit before parsing it", async () => {
    expect(await reasonFor(await issuer.token({ padding: "x".repeat(9000) }))).toBe("token_too_large");
  });

  it.each([
    ["", "token_missing"],
    ["abc", "token_malformed"],
    ["a.b", "token_malformed"],
    ["a.b.c.d", "token_malformed"],
    ["!!!.???.***", "token_malformed"],
    [`${Buffer.from("[]").toString("base64url")}.e30.`, "token_malformed"],
  ])("refuses %j with %s", async (token, code) => {
    expect(await reasonFor(token)).toBe(code);
  });
});
