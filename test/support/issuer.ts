// A token issuer for tests: real keys, a real JWKS file, real signatures.
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IssuerConfig } from "../../src/token/config.js";
import { demoPolicyScopes } from "../../src/dev/index.js";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTHeaderParameters } from "jose";

export const TEST_ISSUER = "https://issuer.test.example";
export const TEST_AUDIENCE = "https://invoices.example";
/** The scopes the test API declares: those of the shipped policies. */
export const TEST_SCOPES: readonly string[] = demoPolicyScopes();

/** The configuration entry that trusts a test issuer through its JWKS file. */
export function issuerConfig(issuer: TestIssuer, overrides: Partial<IssuerConfig> = {}): IssuerConfig {
  return {
    issuer: issuer.issuer,
    jwks_file: issuer.jwksPath,
    algorithms: [issuer.alg as IssuerConfig["algorithms"][number]],
    allow_typ_jwt: false,
    jwks_refresh_seconds: 600,
    jwks_stale_grace_seconds: 3600,
    jwks_cooldown_seconds: 30,
    jwks_timeout_ms: 3000,
    ...overrides,
  };
}

export interface TestIssuer {
  issuer: string;
  alg: string;
  kid: string;
  jwksPath: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  /**
   * A valid access token for TEST_AUDIENCE, with `claims` merged over the defaults: a
   * person's web client (client_type "web"; the demo policy treats a token without a
   * known human client_type as an AI agent). Pass client_type: "ai-agent" for an agent.
   */
  token(claims?: Record<string, unknown>, header?: Partial<JWTHeaderParameters>): Promise<string>;
}

/** `dir`: where its JWKS file's directory goes (a scratch directory its caller removes); the system's temporary directory by default. */
export async function createTestIssuer(options: { issuer?: string; alg?: IssuerConfig["algorithms"][number]; dir?: string } = {}): Promise<TestIssuer> {
  const alg = options.alg ?? "ES256";
  const issuer = options.issuer ?? TEST_ISSUER;
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const exported = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exported);
  const publicJwk = { ...exported, kid, alg, use: "sig" };
  const dir = mkdtempSync(join(options.dir ?? tmpdir(), "verdict-issuer-"));
  const jwksPath = join(dir, "jwks.json");
  writeFileSync(jwksPath, JSON.stringify({ keys: [publicJwk] }));
  return {
    issuer,
    alg,
    kid,
    jwksPath,
    privateKey,
    publicJwk,
    async token(claims = {}, header = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload = {
        iss: issuer,
        aud: TEST_AUDIENCE,
        sub: "user-123",
        client_id: "agent-7",
        iat: now,
        exp: now + 600,
        jti: randomUUID(),
        scope: "invoices:read",
        client_type: "web",
        ...claims,
      };
      // undefined removes a default claim
      for (const [key, value] of Object.entries(payload)) if (value === undefined) delete (payload as Record<string, unknown>)[key];
      return new SignJWT(payload).setProtectedHeader({ alg, typ: "at+jwt", kid, ...header }).sign(privateKey);
    },
  };
}
