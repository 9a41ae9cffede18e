// `verdict config check FILE` as an operator runs it, and `verdict serve` reading its
// secrets from a file and from the environment.
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { describe, expect, inject, it, vi } from "vitest";
import { DEV_API_AUDIENCE, mintDevToken, writeDevIssuerJwks } from "../../src/dev/index.js";
import { createTestCa } from "../support/certs.js";
import { runVerdict, serveVerdict, stopProcess } from "../support/cli.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const KEY = "config-check-key";
const keyHash = createHash("sha256").update(KEY).digest("hex");

/** The development issuer (its JWKS written under `home`) and one API, as YAML lines. */
async function callerLines(home: string, audience = "https://invoices.example"): Promise<string[]> {
  const jwks = await writeDevIssuerJwks(home);
  return [
    "issuers:",
    "  - issuer: urn:verdict:dev-issuer",
    `    jwks_file: ${jwks}`,
    "apis:",
    "  - name: invoices-api",
    `    audience: ${audience}`,
    `    key_sha256: ${keyHash}`,
    "    scopes: [invoices:read]",
  ];
}

function writeConfig(lines: string[]): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "verdict-config-check-"));
  const path = join(dir, "verdict.yaml");
  writeFileSync(path, lines.join("\n") + "\n");
  return { dir, path };
}

describe("verdict config check FILE", () => {
  it("says a valid file is valid, and what it configures, without starting anything", async () => {
    const home = mkdtempSync(join(tmpdir(), "verdict-config-home-"));
    const { path } = writeConfig([
      "listen: 127.0.0.1:50051",
      ...(await callerLines(home)),
      `bundle: ${inject("bundlePath")}`,
      'mongodb_uri: "mongodb://verdict:${DB_PASSWORD}@db-1:27017/?replicaSet=rs0"',
    ]);
    const run = await runVerdict(["config", "check", path], { DB_PASSWORD: "pw" });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${path}: valid\n  listen 127.0.0.1:50051 (plaintext), admin 127.0.0.1:9464, 1 API, 1 issuer, database verdict\n`);
  });

  it("lists every problem in one pass, each with where it is: values, rules across keys, references, files, the bundle", async () => {
    const { dir, path } = writeConfig([
      "listen: 0.0.0.0:50051",
      "admin_listen: localhost",
      "issuers:",
      "  - issuer: https://login.example",
      "    jwks_file: keys/missing.json",
      "apis:",
      "  - name: invoices-api",
      "    audience: https://invoices.example",
      "    key_sha256: not-a-hash",
      "    scopes: [invoices:read]",
      "  - name: invoices-api",
      "    audience: https://other.example",
      `    key_sha256: ${keyHash}`,
      "    scopes: [invoices:read]",
      "bundle: bundle.tar.gz",
      'mongodb_uri: "mongodb://verdict:${NOT_SET_ANYWHERE}@db-1/"',
      "state_timeout_ms: -1",
      "colour: blue",
    ]);
    writeFileSync(join(dir, "bundle.tar.gz"), "not a bundle");
    const run = await runVerdict(["config", "check", path], { NOT_SET_ANYWHERE: undefined });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    const lines = run.stderr.trim().split("\n");
    expect(lines[0]).toBe(`verdict config: ${path}: 9 problems:`);
    expect(lines.slice(1).sort()).toEqual(
      [
        '  ✖ Unrecognized key: "colour"',
        "  ✖ admin_listen: must be host:port, e.g. 127.0.0.1:50051",
        "  ✖ apis[0].key_sha256: key_sha256 must be the lowercase hex SHA-256 of the API's key, never the key itself",
        "  ✖ apis[1].name: duplicate API name invoices-api",
        "  ✖ listen: listening beyond loopback without tls would send API keys and tokens in clear: configure tls, or set insecure_plaintext: true if a mesh encrypts the hop",
        "  ✖ mongodb_uri: ${NOT_SET_ANYWHERE} names an environment variable that is not set",
        "  ✖ state_timeout_ms: Too small: expected number to be >=1",
        `  ✖ issuers[0].jwks_file: cannot read ${join(dir, "keys", "missing.json")}: ENOENT`,
        `  ✖ bundle: cannot read policy bundle ${join(dir, "bundle.tar.gz")}: incorrect header check`,
      ].sort(),
    );
  });

  it("checks a listener's certificate and key as a pair and an issuer's JWKS file, as start reads them", async () => {
    const home = mkdtempSync(join(tmpdir(), "verdict-config-home-"));
    const ca = createTestCa();
    const one = ca.issue({ cn: "localhost", dnsNames: ["localhost"], server: true });
    const other = ca.issue({ cn: "localhost", dnsNames: ["localhost"], server: true });
    const callers = await callerLines(home);
    const lines = (cert: string, key: string) => [
      "listen: 127.0.0.1:0",
      "tls:",
      `  cert_file: ${cert}`,
      `  key_file: ${key}`,
      ...callers,
      `bundle: ${inject("bundlePath")}`,
      `mongodb_uri: ${mongoUri()}`,
    ];
    const mismatched = writeConfig(lines(one.certFile, other.keyFile));
    const run = await runVerdict(["config", "check", mismatched.path]);
    expect(run.code).toBe(1);
    const why = `the key ${other.keyFile} does not belong to the certificate ${one.certFile}`;
    expect(run.stderr).toContain(`  ✖ tls: ${why}`);
    const serve = await runVerdict(["serve", "--config", mismatched.path, "--admin-listen", "127.0.0.1:0"]);
    expect(serve.code).toBe(1);
    expect(serve.stderr).toContain(`tls: ${why}`);

    const notAKey = join(mismatched.dir, "not-a-key.pem");
    writeFileSync(notAKey, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
    const junk = await runVerdict(["config", "check", writeConfig(lines(one.certFile, notAKey)).path]);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toContain(`  ✖ tls: ${notAKey} is not a usable private key (PEM)`);
    // The issuer's JWKS file too, as start reads it.
    const jwks = join(mismatched.dir, "jwks.json");
    writeFileSync(jwks, JSON.stringify({ keys: [{ kty: "EC", kid: "half" }] }));
    const badKeys = writeConfig([
      ...lines(one.certFile, one.keyFile).map((line) => line.replace(/jwks_file: .*/, `jwks_file: ${jwks}`)),
      "ssf:",
      "  transmitters:",
      "    - name: idp",
      "      issuer: https://idp.example",
      "      audience: https://verdict.example/ssf",
      `      jwks_file: ${join(mismatched.dir, "not-json.json")}`,
    ]);
    writeFileSync(join(mismatched.dir, "not-json.json"), "{");
    const keysRun = await runVerdict(["config", "check", badKeys.path]);
    expect(keysRun.code).toBe(1);
    expect(keysRun.stderr).toContain(`  ✖ issuers[0].jwks_file: JWKS file ${jwks}: keys[0] (kid half) is not a usable public key`);
    expect(keysRun.stderr).toContain(`  ✖ ssf.transmitters[0].jwks_file: cannot read JWKS file ${join(mismatched.dir, "not-json.json")}: `);
    const good = await runVerdict(["config", "check", writeConfig(lines(one.certFile, one.keyFile)).path]);
    expect(good.stderr).toBe("");
    expect(good.code).toBe(0);
  });

  it("explains how it is called", async () => {
    const run = await runVerdict(["config", "check"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("give the configuration file: verdict config check FILE");
    expect(run.stderr).toContain("verdict config check FILE");
  });
});

describe("verdict serve with secrets from a file and from the environment", () => {
  it("reads mongodb_uri_file and expands ${NAME} references, then decides and records", async () => {
    const home = mkdtempSync(join(tmpdir(), "verdict-secrets-home-"));
    const database = uniqueDatabaseName("secrets");
    const { dir, path } = writeConfig([
      "listen: 127.0.0.1:0",
      ...(await callerLines(home, "${API_AUDIENCE}")),
      `bundle: ${inject("bundlePath")}`,
      "mongodb_uri_file: mongodb-uri",
      "mongodb_database: ${VERDICT_DATABASE}",
      "log_level: info",
    ]);
    writeFileSync(join(dir, "mongodb-uri"), mongoUri() + "\n", { mode: 0o600 });
    const server = await serveVerdict(["--config", path], {
      VERDICT_HOME: home,
      MONGODB_URI: undefined,
      API_AUDIENCE: DEV_API_AUDIENCE,
      VERDICT_DATABASE: database,
    });
    const client = new MongoClient(mongoUri());
    try {
      const token = await mintDevToken(home, {
        subject: "alice",
        clientId: "web-app",
        clientType: "web",
        scopes: ["invoices:read"],
        audience: DEV_API_AUDIENCE,
        ttlSeconds: 300,
      });
      const run = await runVerdict([
        "check",
        "--addr",
        server.address,
        "--api-key",
        KEY,
        "--token",
        token,
        "--action",
        "invoices:read",
        "--resource",
        "invoice/inv-1",
      ]);
      const decision = JSON.parse(run.stdout) as { decision: string; decision_id: string };
      expect(decision.decision).toBe("ALLOW");
      await vi.waitFor(
        async () =>
          expect(
            await client
              .db(database)
              .collection("decisions")
              .countDocuments({ _id: decision.decision_id as never }),
          ).toBe(1),
        {
          timeout: 10_000,
        },
      );
      // The URI carries a password: it never reaches the log.
      expect(server.stderr()).not.toContain(mongoUri());
    } finally {
      await client.close();
      expect(await stopProcess(server.child)).toBe(0);
    }
  });
});
