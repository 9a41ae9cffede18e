// Starts a real Verdict (gRPC on a loopback port, the compiled bundle, MongoDB over
// the wire) for a test, with a test issuer and one test API.
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import { buildConfig, type Config, type ConfigFile } from "../../src/config/index.js";
import { silentLogger, type Logger } from "../../src/observability/index.js";
import { hashApiKey, startVerdict, type RunningVerdict, type StartOptions } from "../../src/server/index.js";
import { TestClient } from "./grpc.js";
import { createTestIssuer, TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "./issuer.js";
import { mongoUri, uniqueDatabaseName } from "./mongo.js";

export interface TestVerdict {
  verdict: RunningVerdict;
  config: Config;
  issuer: TestIssuer;
  apiKey: string;
  client: TestClient;
  address: string;
  database: string;
  stop(): Promise<void>;
}

export interface TestVerdictOptions {
  /** Merged over the generated configuration file. */
  config?: Partial<ConfigFile>;
  issuer?: TestIssuer;
  log?: Logger;
  mongoUri?: string;
  /** Faster bundle watching for reload tests. */
  watchOptions?: StartOptions["watchOptions"];
  /** The obligation types the server enforces (default: Verdict's own). */
  obligations?: StartOptions["obligations"];
  /** Spans go here (an in-memory exporter), as an OTLP endpoint would get them. */
  spanExporter?: StartOptions["spanExporter"];
  /** The test API's key (default: a random one). */
  apiKey?: string;
  /** The console's development sign-in (the dev profile's; tests sign with their issuer). */
  consoleDevSignIn?: StartOptions["consoleDevSignIn"];
  /** Started as one process of `verdict serve`, whose primary says admin_listen's URL with this. */
  primaryAdminUrl?: Promise<string>;
}

export async function startTestVerdict(options: TestVerdictOptions = {}): Promise<TestVerdict> {
  const issuer = options.issuer ?? (await createTestIssuer());
  const apiKey = options.apiKey ?? `vdk_test_${randomBytes(16).toString("hex")}`;
  const database = uniqueDatabaseName("verdict_test");
  const file: ConfigFile = {
    listen: "127.0.0.1:0",
    // Test Verdicts run side by side: each takes a free admin port.
    admin_listen: "127.0.0.1:0",
    issuers: [{ issuer: issuer.issuer, jwks_file: issuer.jwksPath, algorithms: [issuer.alg as "ES256"] }],
    apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: [...TEST_SCOPES] }],
    bundle: inject("bundlePath"),
    mongodb_database: database,
    ...options.config,
    // Each test Verdict spills into its own directory, never the repository's .verdict/.
    audit: { spill_dir: mkdtempSync(join(tmpdir(), "verdict-spill-")), ...options.config?.audit },
  };
  const config = buildConfig(file, { baseDir: process.cwd(), env: {} });
  const verdict = await startVerdict(config, {
    log: options.log ?? silentLogger(),
    mongoUri: options.mongoUri ?? mongoUri(),
    ...(options.watchOptions ? { watchOptions: options.watchOptions } : {}),
    ...(options.obligations ? { obligations: options.obligations } : {}),
    ...(options.spanExporter ? { spanExporter: options.spanExporter } : {}),
    ...(options.consoleDevSignIn ? { consoleDevSignIn: options.consoleDevSignIn } : {}),
    ...(options.primaryAdminUrl ? { role: "worker" as const, primaryAdminUrl: options.primaryAdminUrl } : {}),
  });
  const address = `127.0.0.1:${verdict.port}`;
  const client = new TestClient(address, apiKey);
  return {
    verdict,
    config,
    issuer,
    apiKey,
    client,
    address,
    database,
    async stop() {
      client.close();
      await verdict.stop();
    },
  };
}
