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
      retention_days: 90,
      spill_dir: "/var/lib/verdict/audit-spill",
      batch_size: 500,
      flush_interval_ms: 200,
      max_buffered: 10_000,
      max_buffered_bytes: 64 * 1024 * 1024,
      write_timeout_ms: 5_000,
      retry_interval_ms: 2_000,
      purge_interval_ms: 3_600_000,
      query_grants: {},
    });
  });

  it("resolves a relative spill_dir against the configuration file's directory", () => {
    expect(build({ ...valid, audit: { spill_dir: "spill", retention_days: 7 } }).audit).toMatchObject({ spill_dir: "/etc/verdict/spill", retention_days: 7 });
  });

  it("reads query grants between configured APIs", () => {
    expect(build({ ...valid, audit: { query_grants: { "ops-console": ["*"], "invoices-api": ["ops-console"] } } }).audit.query_grants).toEqual({
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
