// Who may call Verdict, and which audience each caller's tokens must carry.
import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/server/index.js";
import { createTestCa, type TestCa } from "../support/certs.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "../support/issuer.js";
import { captureLog } from "../support/log.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const PAYMENTS = "https://payments.example";
const run = promisify(execFile);
let issuer: TestIssuer;

beforeAll(async () => {
  issuer = await createTestIssuer();
});

describe("audience per hop (API keys)", () => {
  let t: TestVerdict;
  const paymentsKey = `vdk_${randomBytes(12).toString("hex")}`;
  let payments: TestClient;

  beforeAll(async () => {
    // two APIs, each with its own audience and key
    t = await startTestVerdict({
      issuer,
      config: {
        apis: [
          { name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey("invoices-key"), scopes: [...TEST_SCOPES] },
          { name: "payments-api", audience: PAYMENTS, key_sha256: hashApiKey(paymentsKey), scopes: ["payments:write"], unknown_scopes: "ignore" },
        ],
      },
    });
    payments = new TestClient(t.address, paymentsKey);
  });
  afterAll(async () => {
    payments?.close();
    await t?.stop();
  });

  it("checks a token against the audience of the API that is calling", async () => {
    const invoices = new TestClient(t.address, "invoices-key");
    const forInvoices = await issuer.token({ aud: TEST_AUDIENCE });
    expect((await invoices.check({ token: forInvoices, action: "invoices:read" })).decision).toBe("ALLOW");
    // the same token, relayed by another API that received it: refused
    expect((await payments.check({ token: forInvoices, action: "invoices:read" })).reasons[0]?.code).toBe("audience_mismatch");
    invoices.close();
  });

  it("gives a caller no way to name the audience to check against", () => {
    const proto = readFileSync(new URL("../../proto/verdict/v1/verdict.proto", import.meta.url), "utf8");
    const checkRequest = /message CheckRequest \{[^}]*\}/.exec(proto)?.[0];
    expect(checkRequest).toContain("string token = 1;");
    expect(checkRequest).not.toMatch(/audience/);
  });

  it("refuses a scope the calling API does not declare with unknown_scope", async () => {
    const invoices = new TestClient(t.address, "invoices-key");
    const response = await invoices.check({ token: await issuer.token({ scope: "invoices:read admin:everything" }), action: "invoices:read" });
    expect(response).toMatchObject({ decision: "DENY", reasons: [{ code: "unknown_scope" }], challenge: { error: "invalid_token" } });
    invoices.close();
  });

  it("drops undeclared scopes for an API configured with unknown_scopes: ignore", async () => {
    const response = await payments.check({ token: await issuer.token({ aud: PAYMENTS, scope: "payments:write admin:everything" }), action: "invoices:read" });
    expect(response.principal?.scopes).toEqual(["payments:write"]);
  });
});

describe("a flood of unauthenticated calls", () => {
  it("is one log line for the first and one for the rest of its window, with how many, never a line each", async () => {
    const captured = captureLog();
    const t = await startTestVerdict({ issuer, log: captured.log });
    const client = new TestClient(t.address, "not-a-key");
    try {
      const answers = await Promise.all(Array.from({ length: 500 }, () => client.call({ token: "t", action: "invoices:read" })));
      expect(answers.every((a) => !a.ok && a.code === grpc.status.UNAUTHENTICATED)).toBe(true);
      const lines = captured.lines().filter((l) => l["msg"] === "unauthenticated caller refused");
      // the first at once; the other 499 are counted and said together when the 10 s window ends (here: not yet)
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ method: "Check", times: 1 });
      expect(JSON.stringify(lines)).not.toContain("not-a-key");
    } finally {
      client.close();
      await t.stop();
    }
  });
});

describe("TLS and mutual TLS", () => {
  let ca: TestCa;
  let t: TestVerdict;

  beforeAll(async () => {
    ca = createTestCa();
    const server = ca.issue({ cn: "verdict", dnsNames: ["localhost"], ips: ["127.0.0.1"], server: true });
    t = await startTestVerdict({
      issuer,
      config: {
        tls: { cert_file: server.certFile, key_file: server.keyFile, client_ca_file: ca.certFile },
        apis: [
          { name: "invoices-api", audience: TEST_AUDIENCE, client_certificate: { subject_cn: "invoices-api" }, scopes: [...TEST_SCOPES] },
          {
            name: "payments-api",
            audience: PAYMENTS,
            client_certificate: { uri_san: "spiffe://example.org/payments" },
            key_sha256: hashApiKey("payments-key"),
            scopes: ["payments:write"],
          },
        ],
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  function client(cert: { certPem: string; keyPem: string } | undefined, apiKey?: string, trust: string = ca.certPem) {
    const credentials = grpc.credentials.createSsl(Buffer.from(trust), cert ? Buffer.from(cert.keyPem) : null, cert ? Buffer.from(cert.certPem) : null);
    return new TestClient(t.address, apiKey, credentials, { "grpc.ssl_target_name_override": "localhost" });
  }

  it("identifies the caller by its client certificate's subject CN", async () => {
    const c = client(ca.issue({ cn: "invoices-api" }));
    const response = await c.check({ token: await issuer.token(), action: "invoices:read" });
    expect(response.decision).toBe("ALLOW");
    c.close();
  });

  it("identifies the caller by a URI SAN, and uses that API's audience", async () => {
    const c = client(ca.issue({ cn: "whatever", uris: ["spiffe://example.org/payments"] }));
    const forInvoices = await issuer.token({ aud: TEST_AUDIENCE });
    expect((await c.check({ token: forInvoices, action: "invoices:read" })).reasons[0]?.code).toBe("audience_mismatch");
    c.close();
  });

  it("is reachable from verdict check with --tls-ca, --tls-cert and --tls-key", async () => {
    const cert = ca.issue({ cn: "invoices-api" });
    const token = await issuer.token();
    const bin = fileURLToPath(new URL("../../bin/verdict.js", import.meta.url));
    const args = [
      bin,
      "check",
      "--addr",
      t.address,
      "--tls-ca",
      ca.certFile,
      "--tls-cert",
      cert.certFile,
      "--tls-key",
      cert.keyFile,
      "--tls-name",
      "localhost",
      "--token",
      token,
      "--action",
      "invoices:read",
      "--resource",
      "invoice/1",
    ];
    const { stdout } = await run(process.execPath, args);
    expect(JSON.parse(stdout).decision).toBe("ALLOW");
  });

  it("refuses a certificate from the CA that is not registered for any API", async () => {
    const c = client(ca.issue({ cn: "stranger" }));
    expect(await c.call({ token: await issuer.token(), action: "invoices:read" })).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
    c.close();
  });

  it("refuses a key and a certificate that name different APIs", async () => {
    const c = client(ca.issue({ cn: "invoices-api" }), "payments-key");
    expect(await c.call({ token: await issuer.token(), action: "invoices:read" })).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
    c.close();
  });

  it("refuses a client certificate from another CA during the handshake", async () => {
    const rogue = createTestCa("Rogue CA");
    const c = client(rogue.issue({ cn: "invoices-api" }));
    const result = await c.call({ token: await issuer.token(), action: "invoices:read" });
    expect(result.ok).toBe(false);
    expect(result.ok ? 0 : result.code).toBe(grpc.status.UNAVAILABLE);
    c.close();
  });

  it("refuses a client without a certificate", async () => {
    const c = client(undefined, "payments-key");
    const result = await c.call({ token: await issuer.token(), action: "invoices:read" });
    expect(result.ok).toBe(false);
    c.close();
  });

  it("refuses plaintext clients", async () => {
    const c = new TestClient(t.address, "payments-key");
    const result = await c.call({ token: await issuer.token(), action: "invoices:read" });
    expect(result.ok).toBe(false);
    c.close();
  });
});

describe("TLS with API keys", () => {
  it("serves TLS without client certificates and authenticates by key", async () => {
    const ca = createTestCa();
    const server = ca.issue({ cn: "verdict", dnsNames: ["localhost"], server: true });
    const t = await startTestVerdict({ issuer, config: { tls: { cert_file: server.certFile, key_file: server.keyFile } } });
    try {
      const c = new TestClient(t.address, t.apiKey, grpc.credentials.createSsl(Buffer.from(ca.certPem)), { "grpc.ssl_target_name_override": "localhost" });
      expect((await c.check({ token: await issuer.token(), action: "invoices:read" })).decision).toBe("ALLOW");
      expect(await c.call({ token: await issuer.token(), action: "invoices:read" }, "wrong")).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
      c.close();
    } finally {
      await t.stop();
    }
  });
});
