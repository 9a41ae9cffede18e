// Load spreads across replicas: three Verdict processes behind one DNS name (a
// headless Service in Kubernetes; here a test DNS server answering with three
// loopback addresses). The SDK with loadBalancing "round_robin" reaches all three;
// pick_first stays on one. And the server closes connections after
// max_connection_age, so a long-lived client re-resolves and rebalances.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { API_KEY_METADATA, PolicyDecisionServiceClient } from "@verdict/sdk/wire";
import { packageRoot } from "../../src/paths.js";
import { serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { startDnsServer, type TestDnsServer } from "../support/dns.js";
import { callersConfig } from "../support/config.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { scrape } from "../support/metrics.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const NAME = "verdict.test";
const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
const API_KEY = "spread-key";

let issuer: TestIssuer;
let dns: TestDnsServer;
let port: number;
let dir: string;
const servers: ServingVerdict[] = [];

/** What every Verdict of this file serves with: the test issuer and API, the built bundle, its own database. */
const serveConfig = (database: string) => ({
  ...callersConfig(issuer, API_KEY),
  bundle: inject("bundlePath"),
  mongodb_uri: mongoUri(),
  mongodb_database: uniqueDatabaseName(database),
  log_level: "info",
});

/** A port free on every one of the loopback addresses (the name resolves to all three, with one port). */
async function portFreeOnAll(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const candidate = 20_000 + Math.floor(Math.random() * 30_000);
    const free = await Promise.all(
      hosts.map(
        (host) =>
          new Promise<boolean>((resolve) => {
            const server = createServer();
            server.once("error", () => resolve(false));
            server.listen(candidate, host, () => server.close(() => resolve(true)));
          }),
      ),
    );
    if (free.every(Boolean)) return candidate;
  }
  throw new Error("no port free on every loopback address");
}

/** Decisions each Verdict counted so far (its own /metrics). */
async function decisionsPerProcess(): Promise<number[]> {
  return Promise.all(
    servers.map(async (server) => (await scrape(server.adminUrl)).filter((s) => s.name === "verdict_decisions_total").reduce((sum, s) => sum + s.value, 0)),
  );
}

/**
 * Runs the SDK in its own process, as an API would, against dns://DNS/NAME:PORT:
 * grpc-js reads GRPC_NODE_USE_ALTERNATIVE_RESOLVER when it loads, and only then
 * asks the DNS server the target names rather than the system's resolver.
 */
function sdkChecks(loadBalancing: "pick_first" | "round_robin", count: number, token: string): Promise<string[]> {
  const script = `
    import { createVerdictClient } from "@verdict/sdk";
    const client = createVerdictClient({
      address: process.env.TARGET, tls: false, insecurePlaintext: true, credential: { apiKey: process.env.API_KEY },
      loadBalancing: process.env.LB, deadlineMs: 10000,
    });
    const decisions = [];
    for (let i = 0; i < Number(process.env.COUNT); i++) {
      decisions.push((await client.check({ token: process.env.TOKEN, action: "invoices:read", resource: { type: "invoice", id: "inv-" + i } })).decision);
    }
    client.close();
    process.stdout.write(JSON.stringify(decisions));`;
  const child: ChildProcess = spawn(process.execPath, ["--input-type=module", "-e", script], {
    cwd: packageRoot,
    env: {
      ...process.env,
      GRPC_NODE_USE_ALTERNATIVE_RESOLVER: "true",
      TARGET: `dns://${dns.authority}/${NAME}:${port}`,
      API_KEY,
      LB: loadBalancing,
      COUNT: String(count),
      TOKEN: token,
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(stdout) as string[]) : reject(new Error(`the SDK process exited with ${code}: ${stderr}`)))),
  );
}

beforeAll(async () => {
  issuer = await createTestIssuer();
  port = await portFreeOnAll(HOSTS);
  dns = await startDnsServer({ [NAME]: HOSTS });
  dir = mkdtempSync(join(tmpdir(), "verdict-spread-"));
  const config = join(dir, "verdict.json");
  writeFileSync(
    config,
    JSON.stringify({
      ...serveConfig("spread"),
    }),
  );
  // The same configuration, each on its own address: three replicas behind one name.
  servers.push(
    ...(await Promise.all(HOSTS.map((host, i) => serveVerdict(["--config", config, "--listen", `${host}:${port}`], { VERDICT_HOME: join(dir, `home-${i}`) })))),
  );
});
afterAll(async () => {
  await Promise.all(servers.map((server) => stopProcess(server.child)));
  await dns?.close();
});

describe("three Verdict processes behind one DNS name", () => {
  it("round_robin: the SDK's calls reach every one of them", async () => {
    const token = await issuer.token({ scope: "invoices:read" });
    const before = await decisionsPerProcess();
    const decisions = await sdkChecks("round_robin", 30, token);
    expect(decisions).toEqual(Array.from({ length: 30 }, () => "ALLOW"));
    const after = await decisionsPerProcess();
    const reached = after.map((n, i) => n - before[i]!);
    expect(reached.reduce((a, b) => a + b, 0)).toBe(30);
    for (const [i, n] of reached.entries()) expect(n, `${HOSTS[i]} got ${n} of 30`).toBeGreaterThan(0);
    expect(dns.queries.get(NAME)).toBeGreaterThan(0);
  });

  it("pick_first (the default): every call goes to one of them", async () => {
    const token = await issuer.token({ scope: "invoices:read" });
    const before = await decisionsPerProcess();
    expect(await sdkChecks("pick_first", 12, token)).toEqual(Array.from({ length: 12 }, () => "ALLOW"));
    const after = await decisionsPerProcess();
    expect(after.map((n, i) => n - before[i]!).sort()).toEqual([0, 0, 12]);
  });
});

describe("max_connection_age", () => {
  it("closes a client's connection after it (GOAWAY): the channel goes idle, and the next call connects again", async () => {
    const home = mkdtempSync(join(tmpdir(), "verdict-age-"));
    const config = join(home, "verdict.json");
    writeFileSync(
      config,
      JSON.stringify({
        listen: "127.0.0.1:0",
        ...serveConfig("age"),
        max_connection_age_seconds: 1,
        max_connection_age_grace_seconds: 1,
      }),
    );
    const server = await serveVerdict(["--config", config], { VERDICT_HOME: home });
    const client = new PolicyDecisionServiceClient(server.address, grpc.credentials.createInsecure());
    const check = async () => {
      const metadata = new grpc.Metadata();
      metadata.set(API_KEY_METADATA, API_KEY);
      const request = {
        token: await issuer.token({}),
        action: "invoices:read",
        resource: { type: "invoice", id: "1", attributes: {} },
        context: {},
        request_id: "",
        dry_run: false,
        explain: false,
        approval_id: "",
      };
      return new Promise<string>((resolve, reject) =>
        client.check(request, metadata, { deadline: Date.now() + 10_000 }, (error, response) => (error ? reject(error) : resolve(response.decision))),
      );
    };
    try {
      expect(await check()).toBe("ALLOW");
      const channel = client.getChannel();
      expect(channel.getConnectivityState(false)).toBe(grpc.connectivityState.READY);
      // About a second (grpc-js adds up to 10% of jitter), then the connection is closed and the channel idles.
      await vi.waitFor(() => expect(channel.getConnectivityState(false)).toBe(grpc.connectivityState.IDLE), { timeout: 10_000, interval: 100 });
      expect(await check()).toBe("ALLOW");
    } finally {
      client.close();
      expect(await stopProcess(server.child)).toBe(0);
    }
  });
});
