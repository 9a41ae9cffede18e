import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildConfig, ConfigError, loadConfigFile, type ConfigFile } from "../../src/config/index.js";
import { defaultBundlePath } from "../../src/paths.js";

const KEY_HASH = "a".repeat(64);
const valid: ConfigFile = {
  listen: "127.0.0.1:50051",
  issuers: [{ issuer: "https://issuer.example", jwks_uri: "https://issuer.example/jwks.json" }],
  apis: [{ name: "invoices-api", audience: "https://invoices.example", key_sha256: KEY_HASH, scopes: ["invoices:read"] }],
};
const build = (file: unknown, env = {}) => buildConfig(file, { baseDir: "/etc/verdict", env });

describe("configuration", () => {
  it("fills safe defaults: asymmetric algorithms, 60 s skew, 8 KiB tokens, 50 ms state deadline, the demo bundle", () => {
    const config = build(valid);
    expect(config.issuers[0]?.algorithms).toEqual(["ES256", "RS256", "PS256", "EdDSA"]);
    expect(config.token).toEqual({ clockSkewSeconds: 60, maxBytes: 8192, cacheEntries: 10_000, dpopMaxAgeSeconds: 120, maxLifetimeSeconds: 86_400 });
    expect(config.mongo).toEqual({ uri: undefined, database: "verdict", timeoutMs: 50 });
    expect(config.bundlePath).toBe(defaultBundlePath);
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 50051 });
    expect(config.profile).toBe("production");
  });

  it("takes MONGODB_URI from the environment when the file names no database", () => {
    expect(build(valid, { MONGODB_URI: "mongodb://db:27017" }).mongo.uri).toBe("mongodb://db:27017");
    expect(build({ ...valid, mongodb_uri: "mongodb://file:1" }, { MONGODB_URI: "mongodb://db:27017" }).mongo.uri).toBe("mongodb://file:1");
  });

  it("resolves relative paths against the configuration file's directory", () => {
    const config = build({ ...valid, issuers: [{ issuer: "i", jwks_file: "keys/jwks.json" }], bundle: "b.tar.gz" });
    expect(config.issuers[0]?.jwksFile).toBe("/etc/verdict/keys/jwks.json");
    expect(config.bundlePath).toBe("/etc/verdict/b.tar.gz");
  });

  it.each([
    ["no issuers", { ...valid, issuers: [] }, /at least one trusted issuer/],
    ["an issuer with both key sources", { ...valid, issuers: [{ issuer: "i", jwks_uri: "https://i/j", jwks_file: "f" }] }, /exactly one of jwks_uri, jwks_file or introspection/],
    ["an issuer with no key source", { ...valid, issuers: [{ issuer: "i" }] }, /exactly one of jwks_uri, jwks_file or introspection/],
    ["HMAC", { ...valid, issuers: [{ issuer: "i", jwks_file: "f", algorithms: ["HS256"] }] }, /algorithms/],
    ["alg none", { ...valid, issuers: [{ issuer: "i", jwks_file: "f", algorithms: ["none"] }] }, /algorithms/],
    ["a plaintext API key", { ...valid, apis: [{ name: "a", audience: "b", key_sha256: "secret", scopes: ["s"] }] }, /never the key itself/],
    ["two APIs with one audience", { ...valid, apis: [valid.apis[0], { ...valid.apis[0], name: "other" }] }, /share the audience/],
    ["an unknown key", { ...valid, listen_addr: "x" }, /listen_addr/],
    ["a skew over 60 s", { ...valid, clock_skew_seconds: 61 }, /clock_skew_seconds/],
    ["a context bound over 256 KiB", { ...valid, max_context_bytes: 262_145 }, /max_context_bytes/],
    ["a token lifetime over 30 days", { ...valid, max_token_lifetime_seconds: 30 * 86_400 + 1 }, /max_token_lifetime_seconds/],
    ["a listen address without a port", { ...valid, listen: "localhost" }, /host:port/],
    ["a policy time bound of 0", { ...valid, policy_timeout_ms: 0 }, /policy_timeout_ms/],
    ["a policy memory bound over 4 GiB", { ...valid, policy_memory_mb: 4097 }, /policy_memory_mb/],
    ["no policy workers", { ...valid, policy_workers: 0 }, /policy_workers/],
    ["a metrics address without a port", { ...valid, metrics_listen: "localhost" }, /metrics_listen/],
  ])("refuses %s with a message naming the problem", (_, file, message) => {
    expect(() => build(file)).toThrow(ConfigError);
    expect(() => build(file)).toThrow(message);
  });

  it("reads YAML files", () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-config-"));
    const path = join(dir, "verdict.yaml");
    writeFileSync(
      path,
      `listen: 0.0.0.0:6000\ninsecure_plaintext: true\nissuers:\n  - issuer: https://issuer.example\n    jwks_file: jwks.json\n    algorithms: [ES256]\napis:\n  - name: a\n    audience: https://a.example\n    key_sha256: ${KEY_HASH}\n    scopes: [a:read]\n`,
    );
    const config = loadConfigFile(path, {});
    expect(config.listen).toEqual({ host: "0.0.0.0", port: 6000 });
    expect(config.issuers[0]).toMatchObject({ issuer: "https://issuer.example", jwksFile: join(dir, "jwks.json"), algorithms: ["ES256"], allowUntypedJwt: false });
  });

  it("bounds policy evaluation, watches the bundle and has no shadow by default", () => {
    const config = build(valid);
    expect(config.policy).toEqual({ watch: true, shadowBundlePath: undefined, shadowWaitMs: 5, shadowRetentionDays: 7, timeoutMs: 250, memoryMb: 64, workers: 2 });
    expect(config.metricsListen).toBeUndefined();
  });

  it("reads the shadow bundle, evaluation bounds and metrics address", () => {
    const config = build({
      ...valid,
      shadow_bundle: "candidate.tar.gz",
      bundle_watch: false,
      shadow_wait_ms: 0,
      shadow_retention_days: 30,
      policy_timeout_ms: 50,
      policy_memory_mb: 16,
      policy_workers: 4,
      metrics_listen: "127.0.0.1:9464",
    });
    expect(config.policy).toEqual({ watch: false, shadowBundlePath: "/etc/verdict/candidate.tar.gz", shadowWaitMs: 0, shadowRetentionDays: 30, timeoutMs: 50, memoryMb: 16, workers: 4 });
    expect(config.metricsListen).toEqual({ host: "127.0.0.1", port: 9464 });
  });

  it("says which file could not be read", () => {
    expect(() => loadConfigFile("/nonexistent/verdict.yaml", {})).toThrow(/cannot read configuration \/nonexistent\/verdict.yaml/);
  });
});
