// The `verdict` command as a user runs it: separate processes, real sockets.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { PolicyDecisionServiceService, RETRY_PUSHBACK_METADATA, type PolicyDecisionServiceServer } from "@verdict/sdk/wire";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { inject } from "vitest";
import { writeDevIssuerJwks } from "../../src/dev/index.js";
import { packageRoot } from "../../src/paths.js";
import { processesMentioning, runVerdict, serveVerdict, stopProcess } from "../support/cli.js";
import { parseMetrics, valueOf } from "../support/metrics.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const home = mkdtempSync(join(tmpdir(), "verdict-home-"));

const verdict = (args: string[], env: Record<string, string> = {}) => runVerdict(args, { VERDICT_HOME: home, ...env });
const serve = (args: string[], env: Record<string, string> = {}) => serveVerdict(args, { VERDICT_HOME: home, ...env });
const stop = stopProcess;

beforeAll(() => {
  if (!existsSync(join(packageRoot, "dist", "main.js"))) throw new Error("dist/ is missing: npm test builds it (npm run build)");
});

describe("verdict dev-token", () => {
  it("prints an at+jwt from the development issuer with the requested claims", async () => {
    const run = await verdict([
      "dev-token",
      "--sub",
      "alice",
      "--client-id",
      "agent-1",
      "--scope",
      "invoices:read invoices:write",
      "--acr",
      "mfa",
      "--client-type",
      "ai-agent",
      "--ttl",
      "120",
    ]);
    expect(run.code).toBe(0);
    const token = run.stdout.trim();
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "ES256", typ: "at+jwt" });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: "urn:verdict:dev-issuer",
      aud: "urn:verdict:dev-api",
      sub: "alice",
      client_id: "agent-1",
      scope: "invoices:read invoices:write",
      acr: "mfa",
      client_type: "ai-agent",
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(120);
    expect(typeof claims.auth_time).toBe("number");
    expect(existsSync(join(home, "dev-issuer.private.jwk.json"))).toBe(true);
  });

  it("explains a missing --sub and exits 2", async () => {
    const run = await verdict(["dev-token", "--client-id", "a"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--sub is required");
  });
});

describe("verdict serve --profile dev that cannot start", () => {
  it("closes its development authorization server and exits 1 with the reason, rather than hanging on it", async () => {
    const run = await verdict(["serve", "--profile", "dev", "--listen", "127.0.0.1:0", "--admin-listen", "nonsense"], { MONGODB_URI: mongoUri() });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("admin_listen: must be host:port");
    expect(existsSync(join(home, "dev-authorization-server.json"))).toBe(false);
  });

  it("stops the local-mongo it started, and forgets it, when the gRPC port is taken", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const taken = `127.0.0.1:${(holder.address() as AddressInfo).port}`;
    const ownHome = mkdtempSync(join(tmpdir(), "verdict-home-"));
    try {
      // The authorization server on a free port: by default it takes the gRPC port + 1, which another test may hold.
      const run = await runVerdict(["serve", "--profile", "dev", "--listen", taken, "--admin-listen", "127.0.0.1:0", "--auth-listen", "127.0.0.1:0"], {
        VERDICT_HOME: ownHome,
        MONGODB_URI: undefined,
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("started local-mongo");
      expect(run.stderr).toContain(`cannot listen on ${taken}: the address is already in use`);
      expect(existsSync(join(ownHome, "local-mongo.json"))).toBe(false);
      expect(existsSync(join(ownHome, "dev-authorization-server.json"))).toBe(false);
      // No local-mongo is left on this home's data: it was stopped, not orphaned.
      expect(processesMentioning(ownHome)).toEqual([]);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});

describe("verdict serve --profile dev and verdict check", () => {
  let server: Awaited<ReturnType<typeof serve>>;

  beforeAll(async () => {
    server = await serve(["--profile", "dev", "--listen", "127.0.0.1:0"], { MONGODB_URI: mongoUri() });
  });
  afterAll(async () => {
    if (server) expect(await stop(server.child)).toBe(0);
  });

  it("prints the development API key at start", async () => {
    await vi.waitFor(() => expect(server.stderr()).toMatch(/development API key: vdk_dev_/), { timeout: 5_000 });
  });

  it("answers ALLOW, DENY and STEP_UP as one JSON object with enum names, exit 0 each time", async () => {
    // a person's web client (without --client-type the demo policy would treat it as an agent)
    const token = (await verdict(["dev-token", "--sub", "alice", "--client-id", "web-app", "--client-type", "web", "--scope", "invoices:read"])).stdout.trim();
    const writer = (
      await verdict(["dev-token", "--sub", "alice", "--client-id", "web-app", "--client-type", "web", "--scope", "invoices:write"])
    ).stdout.trim();
    const ask = (t: string, action: string) => verdict(["check", "--addr", server.address, "--token", t, "--action", action, "--resource", "invoice/inv-1"]);

    const allow = await ask(token, "invoices:read");
    expect(allow.code).toBe(0);
    expect(JSON.parse(allow.stdout)).toMatchObject({ decision: "ALLOW", principal: { subject: "alice", client_id: "web-app", client_type: "web" } });

    const deny = await ask(token, "invoices:dispute");
    expect(deny.code).toBe(0);
    expect(JSON.parse(deny.stdout)).toMatchObject({
      decision: "DENY",
      reasons: [{ code: "insufficient_scope" }],
      challenge: { error: "insufficient_scope", scopes: ["invoices:write"] },
    });

    const stepUp = await ask(writer, "invoices:dispute");
    expect(stepUp.code).toBe(0);
    const body = JSON.parse(stepUp.stdout);
    expect(body).toMatchObject({ decision: "STEP_UP", challenge: { error: "insufficient_user_authentication", acr_values: ["mfa"] } });
    expect(Object.keys(body)).toEqual(["decision", "reasons", "challenge", "principal", "obligations", "decision_id", "policy_revision"]);
  });

  it("serves /healthz, /readyz and /metrics in the development profile, counting the decisions made", async () => {
    const admin = server.adminUrl;
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    await vi.waitFor(async () => expect((await fetch(`${admin}/readyz`)).status).toBe(200), { timeout: 10_000 });
    const token = (await verdict(["dev-token", "--sub", "bob", "--client-id", "web-app", "--client-type", "web", "--scope", "invoices:read"])).stdout.trim();
    const before = parseMetrics(await (await fetch(`${admin}/metrics`)).text());
    const allowed = valueOf(before, "verdict_decisions_total", { decision: "ALLOW", reason: "none", api: "dev-api" }) ?? 0;
    const run = await verdict(["check", "--addr", server.address, "--token", token, "--action", "invoices:read", "--resource", "invoice/inv-1"]);
    expect(JSON.parse(run.stdout)).toMatchObject({ decision: "ALLOW", reasons: [] });
    const after = parseMetrics(await (await fetch(`${admin}/metrics`)).text());
    expect(valueOf(after, "verdict_decisions_total", { decision: "ALLOW", reason: "none", api: "dev-api" })).toBe(allowed + 1);
    expect(valueOf(after, "verdict_ready")).toBe(1);
  });

  it("serves the console with a one-click development sign-in whose token reads the trail", async () => {
    const admin = server.adminUrl;
    await vi.waitFor(() => expect(server.stderr()).toContain(`console: ${admin}/console/`), { timeout: 5_000 });
    const page = await fetch(`${admin}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const signIn = await fetch(`${admin}/console/api/dev-sign-in`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(signIn.status).toBe(200);
    const { access_token } = (await signIn.json()) as { access_token: string };
    const session = await fetch(`${admin}/console/api/session`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(await session.json()).toMatchObject({ operator: { subject: "dev-operator", acr: "phr" }, features: { audit: true } });
    const decisions = await fetch(`${admin}/console/api/decisions?limit=5`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(decisions.status).toBe(200);
    // The development token is for the console's audience: a Check with it is refused.
    const check = await verdict(["check", "--addr", server.address, "--token", access_token, "--action", "invoices:read", "--resource", "invoice/inv-1"]);
    expect(JSON.parse(check.stdout)).toMatchObject({ decision: "DENY", reasons: [{ code: "audience_mismatch" }] });
  });

  it("shows which policy rules fired with --explain", async () => {
    const payer = (
      await verdict(["dev-token", "--sub", "alice", "--client-id", "agent-1", "--client-type", "ai-agent", "--scope", "payments:write"])
    ).stdout.trim();
    const run = await verdict([
      "check",
      "--addr",
      server.address,
      "--token",
      payer,
      "--action",
      "payments:transfer",
      "--resource",
      "account/a-1",
      "--context",
      '{"amount": 150}',
      "--explain",
    ]);
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout);
    expect(body).toMatchObject({ decision: "STEP_UP", reasons: [{ code: "approval_required" }], challenge: { error: "approval_required" } });
    expect(body.explanation.rules).toContainEqual(expect.objectContaining({ kind: "step_up", rule: "approvals.required", code: "approval_required" }));
    expect(body.explanation.rules).toContainEqual(
      expect.objectContaining({ kind: "obligation", rule: "transactions.daily_per_user_per_agent", code: "reserve" }),
    );
    expect(body.explanation.shadow).toBeNull();
    expect(Object.keys(body).at(-1)).toBe("explanation");
  });

  it("exits non-zero, saying why, when the API key is wrong", async () => {
    const run = await verdict([
      "check",
      "--addr",
      server.address,
      "--api-key",
      "wrong",
      "--token",
      "x",
      "--action",
      "invoices:read",
      "--resource",
      "invoice/1",
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`verdict check: Verdict at ${server.address} did not accept this caller: caller not authenticated: unknown x-verdict-api-key\n`);
  });

  it("refuses a context that is not a JSON object before calling", async () => {
    const run = await verdict(["check", "--addr", server.address, "--token", "x", "--action", "a", "--resource", "invoice/1", "--context", "[1,2]"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--context must be a JSON object");
  });
});

describe("verdict serve --config", () => {
  /** A configuration file for one API, billing (key "billing-key"), with `listen` as given. */
  async function billingConfig(listen = "127.0.0.1:0"): Promise<string> {
    const jwks = await writeDevIssuerJwks(home);
    const dir = mkdtempSync(join(tmpdir(), "verdict-config-"));
    const config = join(dir, "verdict.yaml");
    writeFileSync(
      config,
      [
        `listen: "${listen}"`,
        "issuers:",
        "  - issuer: urn:verdict:dev-issuer",
        `    jwks_file: ${jwks}`,
        "    algorithms: [ES256]",
        "apis:",
        "  - name: billing",
        "    audience: https://billing.example",
        `    key_sha256: ${createHash("sha256").update("billing-key").digest("hex")}`,
        "    scopes: [invoices:read]",
        `bundle: ${inject("bundlePath")}`,
        `mongodb_uri: ${mongoUri()}`,
        `mongodb_database: ${uniqueDatabaseName("cli")}`,
      ].join("\n"),
    );
    return config;
  }

  const billingCheck = async (address: string) => {
    const token = (
      await verdict(["dev-token", "--sub", "bob", "--client-id", "c", "--scope", "invoices:read", "--aud", "https://billing.example"])
    ).stdout.trim();
    return verdict(["check", "--addr", address, "--api-key", "billing-key", "--token", token, "--action", "invoices:read", "--resource", "invoice/9"]);
  };

  it("serves with a YAML file and stops cleanly on SIGTERM", async () => {
    const server = await serve(["--config", await billingConfig()]);
    const run = await billingCheck(server.address);
    expect(JSON.parse(run.stdout).decision).toBe("ALLOW");
    expect(await stop(server.child)).toBe(0);
  });

  it("refuses to start on an invalid configuration, naming the problem", async () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-config-"));
    const config = join(dir, "verdict.json");
    writeFileSync(config, JSON.stringify({ issuers: [], apis: [] }));
    const run = await verdict(["serve", "--config", config]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("at least one trusted issuer");
  });

  it("holds --listen to the file's rules: plaintext beyond loopback is refused, with the message the file gets", async () => {
    const fromFlag = await verdict(["serve", "--config", await billingConfig(), "--listen", "0.0.0.0:0"]);
    const fromFile = await verdict(["serve", "--config", await billingConfig("0.0.0.0:0")]);
    expect(fromFlag.code).toBe(1);
    expect(fromFlag.stderr).toContain("listening beyond loopback without tls would send API keys and tokens in clear");
    expect(fromFlag.stderr).toBe(fromFile.stderr);
  });

  it("stops the start at once, saying so, when another program holds the gRPC port or the admin listener's", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const taken = `127.0.0.1:${(holder.address() as AddressInfo).port}`;
    try {
      const config = await billingConfig();
      const grpc = await verdict(["serve", "--config", config, "--listen", taken, "--admin-listen", "127.0.0.1:0"]);
      expect(grpc.code).toBe(1);
      expect(grpc.stderr).toContain(`cannot listen on ${taken}: the address is already in use (is another Verdict running?)`);
      // The processes were starting beside the admin listener: they are ended at once, not when they give up waiting for its URL (30 s).
      const admin = await verdict(["serve", "--config", config, "--admin-listen", taken]);
      expect(admin.code).toBe(1);
      expect(admin.stderr).toContain(`cannot listen on ${taken} (the admin listener): the address is already in use`);
      // One process, which binds gRPC itself: its failed start closes the database, and that is not an outage to report.
      writeFileSync(config, `${readFileSync(config, "utf8")}\nprocesses: 1\n`);
      const single = await verdict(["serve", "--config", config, "--listen", taken, "--admin-listen", "127.0.0.1:0"]);
      expect(single.code).toBe(1);
      expect(single.stderr).toContain(`cannot listen on ${taken}: the address is already in use`);
      expect(single.stderr).not.toContain("the database is not answering");
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("stops the start, saying why, when the policy bundle does not load, and blames nothing else", async () => {
    const config = await billingConfig();
    const corrupt = join(dirname(config), "corrupt.tar.gz");
    writeFileSync(corrupt, "not a tarball");
    writeFileSync(config, readFileSync(config, "utf8").replace(/^bundle: .*$/m, `bundle: ${corrupt}`));
    const run = await verdict(["serve", "--config", config, "--admin-listen", "127.0.0.1:0"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`the policy bundle ${corrupt} does not load`);
    // The suspensions' first load was cut short by the failed start: that is not the database's fault.
    expect(run.stderr).not.toContain("suspensions not loaded yet");
  });

  it("serves on an IPv6 loopback address given as --listen [::1]:PORT", async () => {
    const server = await serve(["--config", await billingConfig(), "--listen", "[::1]:0"]);
    expect(server.address).toMatch(/^\[::1\]:\d+$/);
    const run = await billingCheck(server.address);
    expect(JSON.parse(run.stdout).decision).toBe("ALLOW");
    expect(await stop(server.child)).toBe(0);
  });
});

describe("verdict check beyond loopback", () => {
  const args = ["--api-key", "vdk_secret", "--token", "t", "--action", "invoices:read", "--resource", "invoice/1", "--timeout-ms", "1500"];

  it("refuses to send the API key and token in plaintext to a non-loopback address, before connecting", async () => {
    const run = await verdict(["check", "--addr", "192.0.2.1:50051", ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--insecure-plaintext");
    expect(run.stderr).toContain("--tls-ca");
    expect(run.stderr).not.toMatch(/UNAVAILABLE|DEADLINE_EXCEEDED/);
  });

  it("sends in plaintext with --insecure-plaintext, saying so on stderr", async () => {
    const run = await verdict(["check", "--addr", "192.0.2.1:50051", "--insecure-plaintext", ...args]);
    expect(run.stderr).toContain("[INSECURE]");
    expect(run.code).toBe(1); // it tried: nothing answers at that address
    expect(run.stderr).toMatch(/cannot reach Verdict at 192.0.2.1:50051|no answer from Verdict at 192.0.2.1:50051/);
  });

  it.each(["127.0.0.1:1", "localhost:1", "[::1]:1", "127.0.0.2:1"])("needs no flag for the loopback address %s", async (addr) => {
    const run = await verdict(["check", "--addr", addr, ...args]);
    expect(run.code).toBe(1);
    expect(run.stderr).not.toContain("[INSECURE]");
  });
});

describe("verdict check without a server", () => {
  it("exits non-zero, saying in words why no decision could be obtained (no grpc-js text)", async () => {
    const ask = (addr: string, ...extra: string[]) =>
      verdict(["check", "--addr", addr, ...extra, "--api-key", "k", "--token", "t", "--action", "a", "--resource", "invoice/1", "--timeout-ms", "2000"]);
    const run = await ask("127.0.0.1:1");
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("verdict check: cannot reach Verdict at 127.0.0.1:1: connection refused (is verdict serve running there?)\n");

    const unknownHost = await ask("verdict.invalid:50051", "--insecure-plaintext");
    expect(unknownHost.code).toBe(1);
    expect(unknownHost.stderr).toContain("verdict check: cannot reach Verdict at verdict.invalid:50051: its host name does not resolve\n");
    for (const text of [run.stderr, unknownHost.stderr])
      expect(text).not.toMatch(/No connection established|Resolution note|Name resolution failed|ECONNREFUSED/);
  });
});

describe("verdict check refused as overloaded", () => {
  // The CLI is what is under test: a gRPC server on a socket answers every Check as an
  // overloaded Verdict does (test/integration/batch-overload.test.ts shows Verdict's side).
  let server: grpc.Server;
  let addr: string;
  let trailers: grpc.Metadata;
  beforeAll(async () => {
    const refuse = (_call: unknown, done: grpc.sendUnaryData<never>) =>
      done({ code: grpc.status.RESOURCE_EXHAUSTED, details: "overloaded: no decision was made and nothing was applied; retry later", metadata: trailers });
    const service: Partial<PolicyDecisionServiceServer> = { check: refuse };
    server = new grpc.Server();
    server.addService(PolicyDecisionServiceService, service as PolicyDecisionServiceServer);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    addr = `127.0.0.1:${port}`;
  });
  afterAll(() => server?.forceShutdown());
  const ask = () => verdict(["check", "--addr", addr, "--api-key", "k", "--token", "t", "--action", "a", "--resource", "invoice/1"]);

  it("says so, and when to retry when the refusal carries gRFC A6's pushback", async () => {
    for (const [value, wait] of [
      ["5000", "5 s"],
      ["6201", "6.3 s"],
      ["250", "250 ms"],
    ]) {
      trailers = new grpc.Metadata();
      trailers.set(RETRY_PUSHBACK_METADATA, value!);
      const run = await ask();
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        `verdict check: Verdict at ${addr} is overloaded: nothing was decided or applied; retry after ${wait} (${RETRY_PUSHBACK_METADATA})\n`,
      );
    }
  });

  it("says retry later when the pushback is absent or not a number of milliseconds", async () => {
    for (const value of [undefined, "-1", "soon"]) {
      trailers = new grpc.Metadata();
      if (value !== undefined) trailers.set(RETRY_PUSHBACK_METADATA, value);
      const run = await ask();
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`verdict check: Verdict at ${addr} is overloaded: nothing was decided or applied; retry later\n`);
    }
  });
});
