// The audit trail through the `verdict` command, as separate processes: SIGTERM
// flushes every record before exit, and `verdict audit query` finds the database
// that `npm start` (serve --profile dev) uses.
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { writeDevIssuerJwks } from "../../src/dev/index.js";
import { packageRoot } from "../../src/paths.js";
import { hashApiKey } from "../../src/server/index.js";
import { runVerdict, serveVerdict } from "../support/cli.js";
import { TestClient, type CallResult } from "../support/grpc.js";
import { connectTestClient, mongoUri, uniqueDatabaseName } from "../support/mongo.js";

/** The environment of a user's shell without MONGODB_URI, with its own VERDICT_HOME. */
function envFor(home: string, extra: Record<string, string> = {}): Record<string, string | undefined> {
  return { MONGODB_URI: undefined, VERDICT_HOME: home, ...extra };
}

const verdict = (args: string[], env: Record<string, string | undefined>) => runVerdict(args, env);
const serve = (args: string[], env: Record<string, string | undefined>) => serveVerdict(args, env);

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}

beforeAll(() => {
  if (!existsSync(join(packageRoot, "dist", "main.js"))) throw new Error("dist/ is missing: npm test builds it (npm run build)");
});

describe("verdict serve on SIGTERM", () => {
  const home = mkdtempSync(join(tmpdir(), "verdict-home-"));
  const database = uniqueDatabaseName("audit_sigterm");
  const apiKey = "vdk_sigterm_test_key";
  let config: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-config-"));
    config = join(dir, "verdict.yaml");
    writeFileSync(
      config,
      [
        "listen: 127.0.0.1:0",
        "issuers:",
        "  - issuer: urn:verdict:dev-issuer",
        `    jwks_file: ${await writeDevIssuerJwks(home)}`,
        "    algorithms: [ES256]",
        "apis:",
        "  - name: billing",
        "    audience: https://billing.example",
        `    key_sha256: ${hashApiKey(apiKey)}`,
        "    scopes: [invoices:read, invoices:write, payments:write]",
        `bundle: ${inject("bundlePath")}`,
        `mongodb_uri: ${mongoUri()}`,
        `mongodb_database: ${database}`,
        "audit:",
        "  flush_interval_ms: 60000 # nothing is written before shutdown",
        "  batch_size: 10000",
        `  spill_dir: ${join(dir, "spill")}`,
      ].join("\n"),
    );
  });

  it("stops taking calls, answers those in flight, and writes every record before it exits", async () => {
    const env = envFor(home);
    const server = await serve(["--config", config], env);
    const token = (
      await verdict(["dev-token", "--sub", "sigterm-user", "--client-id", "agent-9", "--scope", "invoices:read", "--aud", "https://billing.example"], env)
    ).stdout.trim();
    const client = new TestClient(server.address, apiKey);
    const mongo = await connectTestClient();
    try {
      const decisions = mongo.db(database).collection("decisions");
      let first!: () => void;
      const firstAnswer = new Promise<void>((resolve) => (first = resolve));
      const calls: Promise<CallResult>[] = Array.from({ length: 200 }, (_, i) =>
        client.call({ token, action: "invoices:read", requestId: `sigterm-${i}` }).then((result) => {
          first();
          return result;
        }),
      );
      await firstAnswer;
      expect(await decisions.countDocuments()).toBe(0); // still in memory
      server.child.kill("SIGTERM");
      await vi.waitFor(() => expect(server.stderr()).toContain("shutting down"), { timeout: 10_000 });
      const late = await client.call({ token, action: "invoices:read", requestId: "late" });
      expect(late).toMatchObject({ ok: false });

      const results = await Promise.all(calls);
      expect(await exited(server.child)).toBe(0);
      const answered = results.flatMap((r) => (r.ok ? [r.response.decision_id] : []));
      expect(answered.length).toBeGreaterThan(0);
      const stored = (await decisions.find({}, { projection: { _id: 1 } }).toArray()).map((d) => String(d._id));
      expect(stored.sort()).toEqual(answered.sort());

      // and `verdict audit query --config` reads the same trail
      const query = await verdict(["audit", "query", "--config", config, "--agent", "agent-9", "--json", "--limit", "1000"], env);
      expect(query.code).toBe(0);
      expect(query.stdout.trim().split("\n")).toHaveLength(answered.length);
    } finally {
      client.close();
      await mongo.close();
      if (server.child.exitCode === null) server.child.kill("SIGKILL");
    }
  });
});

describe("verdict audit query next to npm start (serve --profile dev)", () => {
  const home = mkdtempSync(join(tmpdir(), "verdict-home-"));
  const env = envFor(home);
  let server: Awaited<ReturnType<typeof serve>> | undefined;

  afterAll(() => {
    if (server?.child.exitCode === null) server.child.kill("SIGKILL");
  });

  it("reads the running dev server's local database, then opens it itself once the server has stopped", async () => {
    server = await serve(["--profile", "dev", "--listen", "127.0.0.1:0"], env);
    expect(existsSync(join(home, "local-mongo.json"))).toBe(true);
    const reader = (
      await verdict(["dev-token", "--sub", "alice", "--client-id", "agent-1", "--client-type", "ai-agent", "--scope", "invoices:read"], env)
    ).stdout.trim();
    const ask = (action: string) =>
      verdict(["check", "--addr", server?.address as string, "--token", reader, "--action", action, "--resource", "invoice/inv-42"], env);
    const allow = JSON.parse((await ask("invoices:read")).stdout) as { decision_id: string };
    const deny = JSON.parse((await ask("invoices:dispute")).stdout) as { decision_id: string };

    let lines: { decision_id: string; decision: string; client_type: string }[] = [];
    await vi.waitFor(
      async () => {
        const run = await verdict(["audit", "query", "--sub", "alice", "--json"], env);
        expect(run.code, run.stderr).toBe(0);
        lines = run.stdout
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line));
        expect(lines).toHaveLength(2);
      },
      { timeout: 20_000, interval: 500 },
    );
    expect(lines.map((l) => l.decision_id)).toEqual([deny.decision_id, allow.decision_id]);
    expect(lines.map((l) => l.client_type)).toEqual(["ai-agent", "ai-agent"]);

    const denied = await verdict(["audit", "query", "--decision", "DENY", "--reason", "insufficient_scope", "--since", "1h", "--json"], env);
    expect(
      denied.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line).decision_id),
    ).toEqual([deny.decision_id]);

    const table = await verdict(["audit", "query", "--agent", "agent-1"], env);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trim().split("\n");
    expect(header).toMatch(/^TIME\s+DECISION\s+API\s+SUBJECT\s+AGENT\s+ACTORS\s+ACTION\s+RESOURCE\s+REASONS\s+ENFORCED\s+DECISION ID$/);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/DENY\s+dev-api\s+alice\s+agent-1 \(ai-agent\)\s+-\s+invoices:dispute\s+invoice\/inv-42\s+insufficient_scope/);

    server.child.kill("SIGTERM");
    expect(await exited(server.child)).toBe(0);
    expect(existsSync(join(home, "local-mongo.json"))).toBe(false);

    // No server runs now: the command starts local-mongo on the same data directory itself.
    const after = await verdict(["audit", "query", "--sub", "alice", "--json"], env);
    expect(after.code, after.stderr).toBe(0);
    expect(
      after.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line).decision_id),
    ).toEqual([deny.decision_id, allow.decision_id]);
  });

  it("explains a filter it cannot read and exits 2", async () => {
    const run = await verdict(["audit", "query", "--since", "yesterday"], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("since must be a duration back from now");
  });
});
