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
import { openDisagreements, openState } from "../../src/state/index.js";
import { buildTestBundle, fixturePolicy } from "../support/bundles.js";
import { caseInput, loadCaseTable } from "../support/cases.js";
import { runVerdict } from "../support/cli.js";
import { databaseSnapshot, mongoUri, uniqueDatabaseName } from "../support/mongo.js";

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
  it("compiles a directory into a bundle, tests it, and prints its content-hash revision", async () => {
    const out = join(work, "built.tar.gz");
    const run = await verdict(["policy", "build", "--dir", fixturePolicy("misbehaving-policy"), "--out", out]);
    expect(run.code).toBe(0);
    // tested before it replaces the file: the report, then the bundle and its revision
    expect(run.stdout).toMatch(new RegExp(`\\nbuilt ${out} \\(revision sha256:[0-9a-f]{16}\\)\\n$`));
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
    expect(run.stdout).toContain("1 passed, 0 failed of 1");
  });

  it("exits 1 naming the step when a test fails", async () => {
    const run = await verdict([
      "policy",
      "test",
      "--dir",
      policyDir('test_read_is_denied if verdict.decision.effect == "deny" with input as {"action": "read"}'),
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("0 passed, 1 failed of 1");
    // the failing test again, with the values of the failing expression's variables
    expect(run.stdout).toContain("the failing tests, with --var-values");
    expect(run.stdout).toMatch(/main_test\.rego:5:\n.*verdict\.decision\.effect[\s\S]*\|\n\s*"allow"/);
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
    expect(run.stderr).toContain("failed: coverage");
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

  // A person's transfer of 400 when 800 of the day's 1000 are spent: the server reads
  // spent_today before the decision and denies, saying what is left.
  const transfer = () => ({
    ...byName("reading an invoice with invoices:read is allowed"),
    action: "payments:transfer",
    resource: { type: "account", id: "acc-1", attributes: {} },
    context: { amount: 400 },
    principal: { ...byName("reading an invoice with invoices:read is allowed").principal, subject: "alice", scopes: ["payments:write"] },
  });

  it("warns when the policy reads state the input does not give, and decides with what --state gives", async () => {
    const withoutState = await verdict(["policy", "eval", "--bundle", inject("bundlePath"), "--input", "-"], {}, JSON.stringify(transfer()));
    expect(withoutState.code).toBe(0);
    const quiet = JSON.parse(withoutState.stdout);
    // what the input says: nothing spent; the warning says the server would have read it
    expect(quiet).toMatchObject({ effect: "allow", state: { source: 'the input\'s "state"', values: {} } });
    expect(quiet.state.queries).toEqual([
      { name: "spent_today", type: "counter", key: ["payments:transfer", "daily_per_user", "https://issuer.example", "alice"], window: "day" },
    ]);
    expect(withoutState.stderr).toContain(
      'warning: the policy reads state "spent_today" (counter payments:transfer/daily_per_user/https://issuer.example/alice per day)',
    );
    expect(quiet.warnings).toHaveLength(1);

    const given = await verdict(
      ["policy", "eval", "--bundle", inject("bundlePath"), "--input", "-", "--state", '{"spent_today": 800}'],
      {},
      JSON.stringify(transfer()),
    );
    expect(given.code).toBe(0);
    expect(JSON.parse(given.stdout)).toMatchObject({
      effect: "deny",
      reasons: [{ code: "limit_exceeded", message: "200 of this user's daily payments:transfer limit of 1000 is left" }],
      state: { source: "--state", values: { spent_today: 800 } },
      warnings: [],
    });
    expect(given.stderr).toBe("");

    const stray = await verdict(
      ["policy", "eval", "--bundle", inject("bundlePath"), "--input", "-", "--state", '{"spent_todya": 800}'],
      {},
      JSON.stringify(transfer()),
    );
    expect(stray.stderr).toContain('state "spent_todya" is given, but verdict/state_queries does not ask for it');
    expect(stray.stderr).toContain('the policy reads state "spent_today"');
  });

  it("reads the state from the database with --read-state, as the server would, and writes nothing", async () => {
    const database = uniqueDatabaseName("verdict_policy_eval");
    const db = Database.open({ uri: mongoUri(), database, log: silentLogger() });
    const now = transfer().now * 1000;
    const { counters } = openState(db, { timeoutMs: 5_000, log: silentLogger() });
    const key = ["payments:transfer", "daily_per_user", "https://issuer.example", "alice"];
    expect(
      await counters.reserve(key, { kind: "calendar", unit: "day" }, 800, 1000, {
        nowMs: now,
        holder: { decisionId: "d-earlier", api: "invoices-api", index: 0 },
        type: "reserve",
      }),
    ).toMatchObject({
      ok: true,
      total: 800,
    });
    const before = await databaseSnapshot(database);

    const run = await verdict(
      ["policy", "eval", "--bundle", inject("bundlePath"), "--input", "-", "--read-state", "--database", database],
      { MONGODB_URI: mongoUri() },
      JSON.stringify(transfer()),
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      effect: "deny",
      reasons: [{ code: "limit_exceeded" }],
      state: {
        source: expect.stringMatching(/^the database \(MONGODB_URI, verdict_policy_eval_\w+\), read at 2023-11-14T22:13:20.000Z$/),
        values: { spent_today: 800 },
      },
      warnings: [],
    });
    expect(await databaseSnapshot(database)).toEqual(before);
    await db.close();
  });

  it("checks the input against the contract's input schema: a missing field, a misspelled key, a wrong type, each with its line", async () => {
    const input = join(work, "loose-input.json");
    const { principal, ...rest } = transfer();
    const { scopes: _scopes, ...withoutScopes } = principal;
    writeFileSync(input, JSON.stringify({ ...rest, principal: { ...withoutScopes, clienttype: "ai-agent" }, now: "soon" }, null, 2));
    const run = await verdict(["policy", "eval", "--bundle", inject("bundlePath"), "--input", input, "--state", '{"spent_today": 0}']);
    expect(run.code).toBe(0);
    const warnings = JSON.parse(run.stdout).warnings as string[];
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`^${input}:\\d+: input.principal must have required property 'scopes'`)),
      expect.stringMatching(new RegExp(`^${input}:\\d+: input.principal clienttype is not a key the schema declares`)),
      expect.stringMatching(new RegExp(`^${input}:\\d+: input.now must be integer`)),
    ]);
    expect(run.stderr.trim().split("\n")).toHaveLength(3);
  });
});

describe("verdict policy disagreements", () => {
  it("prints what shadow evaluation recorded, newest first, one JSON object per line, with each field that differs", async () => {
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
    // kept without field-level changes (as before they were recorded): worked out from both answers
    expect(lines[0].changes).toEqual([
      { field: "effect", from: "allow", to: "deny" },
      { field: "reasons", to: "limit_exceeded" },
    ]);

    const limited = await verdict(["policy", "disagreements", "--database", database, "--limit", "1", "--shadow-revision", "sha256:bbbb"], {
      MONGODB_URI: mongoUri(),
    });
    expect(limited.stdout.trim().split("\n")).toHaveLength(1);
  });

  it("finds the database of a running `verdict serve` (the development profile) without --config", async () => {
    const home = mkdtempSync(join(work, "home-"));
    writeFileSync(join(home, "local-mongo.json"), JSON.stringify({ uri: mongoUri(), pid: process.pid }) + "\n");
    const run = await runVerdict(["policy", "disagreements", "--database", uniqueDatabaseName("dev-shadow")], { VERDICT_HOME: home, MONGODB_URI: undefined });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("");
  });
});
