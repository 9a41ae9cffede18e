import { describe, expect, it } from "vitest";
import { buildConfig, ConfigError, type ConfigFile } from "../../src/config/index.js";

const KEY_HASH = "a".repeat(64);
const valid: ConfigFile = {
  issuers: [{ issuer: "https://issuer.example", jwks_uri: "https://issuer.example/jwks.json" }],
  apis: [
    { name: "invoices-api", audience: "https://invoices.example", key_sha256: KEY_HASH, scopes: ["invoices:read"] },
    { name: "ops-console", audience: "https://ops.example", key_sha256: "b".repeat(64), scopes: ["audit:read"] },
  ],
};
const build = (file: unknown, env = {}) => buildConfig(file, { baseDir: "/etc/verdict", env });

describe("audit configuration", () => {
  it("is on by default, keeps records 90 days, and spills under the state directory", () => {
    expect(build(valid, { VERDICT_HOME: "/var/lib/verdict" }).audit).toEqual({
      enabled: true,
      retentionDays: 90,
      spillDir: "/var/lib/verdict/audit-spill",
      batchSize: 500,
      flushIntervalMs: 200,
      maxBuffered: 10_000,
      maxBufferedBytes: 64 * 1024 * 1024,
      writeTimeoutMs: 5_000,
      retryIntervalMs: 2_000,
      purgeIntervalMs: 3_600_000,
      queryGrants: {},
    });
  });

  it("resolves a relative spill_dir against the configuration file's directory", () => {
    expect(build({ ...valid, audit: { spill_dir: "spill", retention_days: 7 } }).audit).toMatchObject({ spillDir: "/etc/verdict/spill", retentionDays: 7 });
  });

  it("reads query grants between configured APIs", () => {
    expect(build({ ...valid, audit: { query_grants: { "ops-console": ["*"], "invoices-api": ["ops-console"] } } }).audit.queryGrants).toEqual({
      "ops-console": ["*"],
      "invoices-api": ["ops-console"],
    });
  });

  it.each([
    ["a grant naming an API that is not configured", { query_grants: { "ops-console": ["billing"] } }, /names billing, which is not in apis/],
    ["a grant for an API that is not configured", { query_grants: { billing: ["*"] } }, /names billing, which is not in apis/],
    ["a retention of zero days", { retention_days: 0 }, /retention_days/],
    ["an unknown audit key", { retention: "90d" }, /retention/],
  ])("refuses %s", (_, audit, message) => {
    expect(() => build({ ...valid, audit })).toThrow(ConfigError);
    expect(() => build({ ...valid, audit })).toThrow(message);
  });
});
