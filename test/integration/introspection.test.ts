// Opaque tokens through a real RFC 7662 endpoint.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, startHttpServer, type TestHttpServer } from "../support/http.js";
import { TEST_AUDIENCE } from "../support/issuer.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const AS = "https://as.example";
const now = () => Math.floor(Date.now() / 1000);
let web: TestHttpServer;
let t: TestVerdict;
const answers = new Map<string, Record<string, unknown>>();
const seenAuthorization: string[] = [];

beforeAll(async () => {
  web = await startHttpServer({
    "/introspect": (req, body, res) => {
      seenAuthorization.push(String(req.headers.authorization));
      const token = new URLSearchParams(body).get("token") ?? "";
      if (token === "boom") return void res.writeHead(500).end();
      json(res, answers.get(token) ?? { active: false });
    },
  });
  const secretFile = join(mkdtempSync(join(tmpdir(), "verdict-secret-")), "secret");
  writeFileSync(secretFile, "s3cr3t:with/odd chars\n");
  t = await startTestVerdict({
    config: {
      issuers: [
        { issuer: AS, introspection: { endpoint: `${web.url}/introspect`, client_id: "verdict", client_secret_file: secretFile, cache_max_seconds: 60 } },
      ],
    },
  });
});
afterAll(async () => {
  await t?.stop();
  await web?.close();
});

function active(token: string, claims: Record<string, unknown> = {}) {
  answers.set(token, { active: true, sub: "user-9", client_id: "agent-3", aud: TEST_AUDIENCE, exp: now() + 600, scope: "invoices:read", ...claims });
}

describe("introspected opaque tokens", () => {
  it("allows an active token, with the principal the issuer describes", async () => {
    active("opaque-active-1", { client_type: "ai-agent" });
    const response = await t.client.check({ token: "opaque-active-1", action: "invoices:read" });
    expect(response.decision).toBe("ALLOW");
    expect(response.principal).toMatchObject({ subject: "user-9", client_id: "agent-3", client_type: "ai-agent", issuer: AS, scopes: ["invoices:read"] });
  });

  it("authenticates to the endpoint with HTTP Basic, form-encoding the credentials", () => {
    const expected = `Basic ${Buffer.from(`verdict:${encodeURIComponent("s3cr3t:with/odd chars")}`).toString("base64")}`;
    expect(seenAuthorization).toContain(expected);
  });

  it("caches an active answer: a repeated token is not introspected again", async () => {
    active("opaque-cached");
    const before = web.hits.get("/introspect") ?? 0;
    for (let i = 0; i < 5; i++) expect((await t.client.check({ token: "opaque-cached", action: "invoices:read" })).decision).toBe("ALLOW");
    expect((web.hits.get("/introspect") ?? 0) - before).toBe(1);
  });

  it("denies an inactive token with token_inactive and does not cache the answer", async () => {
    const first = await t.client.check({ token: "opaque-revoked", action: "invoices:read" });
    expect(first).toMatchObject({ decision: "DENY", reasons: [{ code: "token_inactive" }], challenge: { error: "invalid_token" } });
    active("opaque-revoked"); // e.g. the issuer answered wrongly a moment ago
    const before = web.hits.get("/introspect") ?? 0;
    expect((await t.client.check({ token: "opaque-revoked", action: "invoices:read" })).decision).toBe("ALLOW");
    expect((web.hits.get("/introspect") ?? 0) - before).toBe(1);
  });

  it("denies an active token meant for another API with audience_mismatch", async () => {
    active("opaque-other-api", { aud: "https://payments.example" });
    expect((await t.client.check({ token: "opaque-other-api", action: "invoices:read" })).reasons[0]?.code).toBe("audience_mismatch");
  });

  it("denies an active but expired answer, and one naming another issuer", async () => {
    active("opaque-expired", { exp: now() - 3600 });
    expect((await t.client.check({ token: "opaque-expired", action: "invoices:read" })).reasons[0]?.code).toBe("token_expired");
    active("opaque-foreign", { iss: "https://elsewhere.example" });
    expect((await t.client.check({ token: "opaque-foreign", action: "invoices:read" })).reasons[0]?.code).toBe("issuer_unknown");
  });

  it("requires sub, client_id, aud and exp in the answer", async () => {
    for (const missing of ["sub", "client_id", "aud", "exp"]) {
      const token = `opaque-missing-${missing}`;
      active(token, { [missing]: undefined });
      expect((await t.client.check({ token, action: "invoices:read" })).reasons[0]?.code).toBe("claim_missing");
    }
  });

  it("fails closed with issuer_unavailable when the endpoint errors, and serves on", async () => {
    expect((await t.client.check({ token: "boom", action: "invoices:read" })).reasons[0]?.code).toBe("issuer_unavailable");
    active("opaque-after-boom");
    expect((await t.client.check({ token: "opaque-after-boom", action: "invoices:read" })).decision).toBe("ALLOW");
  });

  it("does not send JWT-shaped tokens to the introspection endpoint", async () => {
    const before = web.hits.get("/introspect") ?? 0;
    const response = await t.client.check({ token: "aaa.bbb.ccc", action: "invoices:read" });
    expect(response.decision).toBe("DENY");
    expect(web.hits.get("/introspect") ?? 0).toBe(before);
  });
});
