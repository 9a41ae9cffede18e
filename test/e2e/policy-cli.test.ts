// `verdict policy build|test|eval|disagreements` as an author runs them: separate
// processes, the pinned opa, real bundles, MongoDB over the wire.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Disagreement } from "../../src/contract/index.js";
import { Database } from "../../src/database/index.js";
import { createMetrics, silentLogger } from "../../src/observability/index.js";
import { packageRoot } from "../../src/paths.js";
import { openDisagreements } from "../../src/state/index.js";
import { buildTestBundle, fixturePolicy } from "../support/bundles.js";
import { caseInput, loadCaseTable } from "../support/cases.js";
import { runVerdict } from "../support/cli.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const work = mkdtempSync(join(tmpdir(), "verdict-policy-cli-"));

const verdict = (args: string[], env: Record<string, string | undefined> = {}, stdin?: string) => runVerdict(args, { VERDICT_HOME: work, ...env }, stdin);

/** A tiny policy directory with one rule and the given test file. */
function policyDir(test: string): string {
  const dir = mkdtempSync(join(work, "policies-"));
  mkdirSync(join(dir, "verdict"));
  writeFileSync(
    join(dir, "verdict", "main.rego"),
    'package verdict\n\n# METADATA\n# entrypoint: true\ndecision := {"effect": "allow"} if input.action == "read"\n\nbig_spender if input.context.amount > 100\n',
  );
  writeFileSync(join(dir, "verdict", "main_test.rego"), `package verdict_test\n\nimport data.verdict\n\n${test}\n`);
  return dir;
}

beforeAll(() => {
  if (!existsSync(join(packageRoot, "dist", "main.js"))) throw new Error("dist/ is missing: npm test builds it (npm run build)");
});

describe("verdict policy build", () => {
  it("compiles a directory into a bundle and prints its content-hash revision", async () => {
    const out = join(work, "built.tar.gz");
    const run = await verdict(["policy", "build", "--dir", fixturePolicy("misbehaving-policy"), "--out", out]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^built ${out} \\(revision sha256:[0-9a-f]{16}\\)\\n$`));
    expect(existsSync(out)).toBe(true);
  });

  it("exits 1 with opa's message when the policy does not compile", async () => {
    const dir = mkdtempSync(join(work, "broken-"));
    writeFileSync(join(dir, "x.rego"), "package verdict\n\ndecision := {\n");
    const run = await verdict(["policy", "build", "--dir", dir, "--out", join(dir, "b.tar.gz")]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("opa build failed");
    expect(run.stderr).toContain("x.rego");
  });
});

describe("verdict policy test", () => {
  it("passes a directory whose tests pass", async () => {
    const run = await verdict([
      "policy",
      "test",
      "--dir",
      policyDir('test_read_is_allowed if verdict.decision.effect == "allow" with input as {"action": "read"}'),
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("PASS: 1/1");
  });

  it("exits 1 naming the step when a test fails", async () => {
    const run = await verdict([
      "policy",
      "test",
      "--dir",
      policyDir('test_read_is_denied if verdict.decision.effect == "deny" with input as {"action": "read"}'),
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("FAIL: 1/1");
    expect(run.stderr).toContain("failed: opa test");
  });

  it("exits 1 when coverage is under the threshold, saying which lines are not covered", async () => {
    const run = await verdict([
      "policy",
      "test",
      "--threshold",
      "100",
      "--dir",
      policyDir('test_read_is_allowed if verdict.decision.effect == "allow" with input as {"action": "read"}'),
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/coverage \d+\.\d%/);
    expect(run.stdout).toMatch(/main\.rego: [\d.]+%, not covered: lines 7/);
    expect(run.stderr).toContain("coverage under 100%");
  });
});

describe("verdict policy eval", () => {
  const table = loadCaseTable();
  const byName = (name: string) => {
    const c = table.decision_cases.find((x) => x.name === name);
    if (!c) throw new Error(`no case ${name}`);
    return caseInput(table, c);
  };

  it("prints the decision, its reasons and the rules that fired", async () => {
    const input = join(work, "input.json");
    writeFileSync(input, JSON.stringify(byName("an agent's transfer one over its threshold needs the user's approval, not a step-up")));
    const run = await verdict(["policy", "eval", "--bundle", inject("bundlePath"), "--input", input]);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out).toMatchObject({
      revision: expect.stringMatching(/^sha256:/),
      effect: "step_up",
      reasons: [{ code: "approval_required" }],
    });
    expect(out.rules.map((r: { kind: string; rule: string }) => `${r.kind} ${r.rule}`).sort()).toEqual([
      "obligation rates.per_agent",
      "obligation rates.per_user",
      "obligation transactions.daily_per_user",
      "obligation transactions.daily_per_user_per_agent",
      "step_up approvals.required",
    ]);
  });

  it("reads the input from standard input", async () => {
    const run = await verdict(
      ["policy", "eval", "--bundle", inject("bundlePath"), "--input", "-"],
      {},
      JSON.stringify(byName("reading an invoice with invoices:read is allowed")),
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ effect: "allow", reasons: [], rules: [] });
  });

  it("prints policy_error and exits 1 when the policy's result does not fit the contract", async () => {
    const bundle = (await buildTestBundle(fixturePolicy("misbehaving-policy"))).path;
    const run = await verdict(["policy", "eval", "--bundle", bundle, "--input", "-"], {}, JSON.stringify({ action: "malformed" }));
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ effect: "deny", reasons: [{ code: "policy_error", message: "decision must be an object" }] });
  });

  it("prints policy_error and exits 1 when the evaluation runs past --timeout-ms", async () => {
    const bundle = (await buildTestBundle(fixturePolicy("misbehaving-policy"))).path;
    const run = await verdict(["policy", "eval", "--bundle", bundle, "--input", "-", "--timeout-ms", "100"], {}, JSON.stringify({ action: "spin" }));
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).reasons[0].message).toContain("longer than 100 ms");
  });

  it("refuses an input that is not a JSON object, exit 2", async () => {
    const run = await verdict(["policy", "eval", "--input", "-"], {}, "[1]");
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--input must hold a JSON object");
  });
});

describe("verdict policy disagreements", () => {
  it("prints what shadow evaluation recorded, newest first, one JSON object per line", async () => {
    const database = uniqueDatabaseName("verdict_policy_cli");
    const db = Database.open({ uri: mongoUri(), database, log: silentLogger() });
    const recorder = openDisagreements(db, { timeoutMs: 5_000, retentionDays: 7, log: silentLogger(), metrics: createMetrics() });
    const record = (decisionId: string, at: Date): Disagreement => ({
      decisionId,
      at,
      caller: "invoices-api",
      action: "payments:transfer",
      resource: { type: "account", id: "a-1" },
      subject: "alice",
      clientId: "agent-7",
      clientType: "ai-agent",
      differs: ["effect"],
      active: { revision: "sha256:aaaa", effect: "allow", reasons: [], obligations: [] },
      shadow: { revision: "sha256:bbbb", effect: "deny", reasons: [{ code: "limit_exceeded", message: "m" }], obligations: [] },
    });
    recorder.record(record("d-old", new Date(Date.now() - 60_000)));
    recorder.record(record("d-new", new Date()));
    await recorder.flush();
    await db.close();

    const run = await verdict(["policy", "disagreements", "--database", database], { MONGODB_URI: mongoUri() });
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((l) => l.decisionId)).toEqual(["d-new", "d-old"]);
    expect(lines[0]).toMatchObject({
      action: "payments:transfer",
      active: { effect: "allow" },
      shadow: { effect: "deny", reasons: [{ code: "limit_exceeded" }] },
    });

    const limited = await verdict(["policy", "disagreements", "--database", database, "--limit", "1", "--shadow-revision", "sha256:bbbb"], {
      MONGODB_URI: mongoUri(),
    });
    expect(limited.stdout.trim().split("\n")).toHaveLength(1);
  });

  it("says how to name the database when there is none", async () => {
    const run = await verdict(["policy", "disagreements"], { MONGODB_URI: undefined });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("no database");
  });
});
