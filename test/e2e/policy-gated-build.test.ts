// A failing build never replaces what a running Verdict serves: `verdict policy
// build` writes a temporary file, tests it, and only then renames it over the served
// bundle. Against a real `verdict serve` watching the file, over gRPC.
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultPolicyDir } from "../../src/paths.js";
import { runVerdict, serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { mongoUri } from "../support/mongo.js";

const home = mkdtempSync(join(tmpdir(), "verdict-gated-"));
const policies = join(home, "policies");
const served = join(home, "bundle.tar.gz");
const verdict = (args: string[]) => runVerdict(args, { VERDICT_HOME: home, MONGODB_URI: mongoUri() });
let server: ServingVerdict;

const revisionOf = async () => {
  const token = (await verdict(["dev-token", "--sub", "alice", "--client-id", "web-app", "--client-type", "web", "--scope", "invoices:read"])).stdout.trim();
  const run = await verdict(["check", "--addr", server.address, "--token", token, "--action", "invoices:read", "--resource", "invoice/inv-1"]);
  expect(run.code).toBe(0);
  return (JSON.parse(run.stdout) as { policy_revision: string }).policy_revision;
};

beforeAll(async () => {
  cpSync(defaultPolicyDir, policies, { recursive: true });
  const first = await verdict(["policy", "build", "--dir", policies, "--out", served]);
  expect(first.code).toBe(0);
  server = await serveVerdict(["--profile", "dev", "--listen", "127.0.0.1:0", "--bundle", served], { VERDICT_HOME: home, MONGODB_URI: mongoUri() });
});

afterAll(async () => {
  if (server) await stopProcess(server.child);
});

describe("verdict policy build against a running Verdict", () => {
  it("leaves the served bundle alone when the new one fails its tests, and the server keeps its revision", async () => {
    const before = readFileSync(served);
    const revision = await revisionOf();
    // builds cleanly with opa, but every allowed transfer would be DENY policy_error in the server
    const rules = join(policies, "verdict", "rules", "transactions.rego");
    const good = readFileSync(rules, "utf8");
    writeFileSync(rules, good.replace('"limit": limits.daily_per_user,\n\t"window": "day",\n', '"limit": limits.daily_per_user,\n'));
    try {
      const run = await verdict(["policy", "build", "--dir", policies, "--out", served]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${served} was left as it was: the new bundle failed`);
      expect(run.stdout).toContain("window must be minute");
      expect(readFileSync(served).equals(before)).toBe(true);
      expect(readdirSync(home).filter((f) => f.endsWith(".building"))).toEqual([]); // the temporary file is gone
      await new Promise((r) => setTimeout(r, 3_000)); // past the watcher's 2 s poll
      expect(await revisionOf()).toBe(revision);
    } finally {
      writeFileSync(rules, good);
    }
  });

  it("replaces it once the tests pass, and the running Verdict serves the new revision", async () => {
    // a change every test still passes (a comment: the revision hashes the sources)
    const main = join(policies, "verdict", "main.rego");
    writeFileSync(main, readFileSync(main, "utf8") + "\n# reviewed\n");
    const run = await verdict(["policy", "build", "--dir", policies, "--out", served]);
    expect(run.code).toBe(0);
    const revision = /revision (sha256:[0-9a-f]{16})/.exec(run.stdout)?.[1];
    expect(revision).toBeDefined();
    await expect.poll(revisionOf, { timeout: 10_000, interval: 500 }).toBe(revision);
  });
});

describe("verdict dev-token --auth-time", () => {
  it("sets auth_time from an age or a time, with --acr", async () => {
    const now = Math.floor(Date.now() / 1000);
    const aged = await verdict(["dev-token", "--sub", "alice", "--client-id", "a", "--acr", "mfa", "--auth-time", "10m"]);
    expect(aged.code).toBe(0);
    expect(Math.abs((decodeJwt(aged.stdout.trim()).auth_time as number) - (now - 600))).toBeLessThanOrEqual(5);
    const exact = await verdict(["dev-token", "--sub", "alice", "--client-id", "a", "--acr", "mfa", "--auth-time", "1700000000"]);
    expect(decodeJwt(exact.stdout.trim()).auth_time).toBe(1700000000);
    const alone = await verdict(["dev-token", "--sub", "alice", "--client-id", "a", "--auth-time", "10m"]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain("--auth-time goes with --acr");
  });
});
