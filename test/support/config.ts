// Test configuration files for `verdict serve --config`: the parts that name who may
// ask (the test issuer, its JWKS file, and one calling API with its key's hash), and
// a whole file with the test bundle and database.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import { hashApiKey } from "../../src/server/index.js";
import { TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "./issuer.js";
import { mongoUri } from "./mongo.js";

export function callersConfig(issuer: TestIssuer, apiKey: string): { issuers: object[]; apis: object[] } {
  return {
    issuers: [{ issuer: issuer.issuer, jwks_file: issuer.jwksPath, algorithms: [issuer.alg] }],
    apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: [...TEST_SCOPES] }],
  };
}

/**
 * A `verdict serve --config` file in a directory of its own: listeners on port 0, the
 * callers above, the test bundle and database, the audit spill directory beside it;
 * `extra` adds or replaces keys (processes, mongodb_database, console, ...). Its path.
 */
export function writeServeConfig(name: string, issuer: TestIssuer, apiKey: string, extra: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), `verdict-${name}-`));
  const path = join(dir, "verdict.json");
  const config = {
    listen: "127.0.0.1:0",
    admin_listen: "127.0.0.1:0",
    ...callersConfig(issuer, apiKey),
    bundle: inject("bundlePath"),
    mongodb_uri: mongoUri(),
    audit: { spill_dir: join(dir, "spill") },
    ...extra,
  };
  writeFileSync(path, JSON.stringify(config));
  return path;
}
