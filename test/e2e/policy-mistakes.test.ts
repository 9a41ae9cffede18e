// Each fail-open mistake an author made while adding a rule (issue 14) is caught by
// `verdict policy test` before it ships: a copy of the shipped policies with the one
// mistake, run through the real command (the pinned opa and Regal, the compiled
// bundle), exits 1 and says where the mistake is.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultPolicyDir } from "../../src/paths.js";
import { runVerdict, type Run } from "../support/cli.js";

const work = mkdtempSync(join(tmpdir(), "verdict-policy-mistakes-"));

/** A copy of the shipped policies with `file` edited; `verdict policy test` on it. */
async function testWith(file: string, edit: (text: string) => string): Promise<Run & { dir: string }> {
  const dir = mkdtempSync(join(work, "policies-"));
  cpSync(defaultPolicyDir, dir, { recursive: true });
  const path = join(dir, file);
  const before = readFileSync(path, "utf8");
  const after = edit(before);
  expect(after).not.toBe(before); // the mistake is really there
  writeFileSync(path, after);
  return { ...(await runVerdict(["policy", "test", "--dir", dir, "--reasons-doc", join(defaultPolicyDir, "..", "docs", "reasons.md")])), dir };
}

const once = (text: string, from: string, to: string) => text.replace(from, to);

describe("verdict policy test catches the mistakes that used to build cleanly", () => {
  it("passes the shipped policies (the baseline every mistake below departs from)", async () => {
    const run = await runVerdict(["policy", "test"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/the case table through the compiled bundle[\s\S]*\d+ passed, 0 failed/);
  });

  it("`obligation contains` instead of `obligations contains`: Regal names the rule head and the set it meant", async () => {
    const run = await testWith("verdict/rules/transactions.rego", (t) => once(t, "\nobligations contains", "\nobligation contains"));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/transactions\.rego:\d+:1/);
    expect(run.stdout).toContain("obligation is not a set of the policy contract and nothing reads it: did you mean obligations?");
    expect(run.stderr).toContain("regal lint");
  });

  it("a misspelled settings key in Rego (agent_step_up_ovr): file, line and the keys the schema declares", async () => {
    const run = await testWith("verdict/rules/bulk.rego", (t) => t.replaceAll("bulk.agent_step_up_over", "bulk.agent_step_up_ovr"));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /verdict\/rules\/bulk\.rego:\d+: settings\.bulk\.\*\.agent_step_up_ovr: reads data\.settings\.bulk\.\*\.agent_step_up_ovr, which the settings schema does not declare/,
    );
    // and the key it should have read is now read by nothing
    expect(run.stdout).toContain("data.settings.bulk.*.agent_step_up_over is declared but no rule reads it");
    expect(run.stderr).toContain("settings keys");
  });

  it("a misspelled settings key in data.json: file, line and path", async () => {
    const run = await testWith("data.json", (t) => once(t, '"agent_step_up_over": 10,', '"agent_step_up_ovr": 10,'));
    const line = lineWith(join(run.dir, "data.json"), "agent_step_up_ovr");
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      new RegExp(`data\\.json:${line}:\\d+: settings\\.bulk\\["invoices:delete"\\]: agent_step_up_ovr is not a key the schema declares`),
    );
    expect(run.stderr).toContain("settings schema");
  });

  it("a limit written as a string: file, line, path and the type expected", async () => {
    const run = await testWith("data.json", (t) => once(t, '"daily_per_user": 1000,', '"daily_per_user": "1000",'));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/data\.json:\d+:\d+: settings\.limits\["tools:pay_invoice"\]\.daily_per_user: must be number/);
  });

  it("data.json that is not JSON: file, line and column", async () => {
    const run = await testWith("data.json", (t) => once(t, '"mfa": 2,', '"mfa": 2,,'));
    const line = lineWith(join(run.dir, "data.json"), ",,");
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`data\\.json:${line}:\\d+: not valid JSON`));
  });

  it("a state query without its window: the case table runs verdict/state_queries as the server does", async () => {
    const run = await testWith("verdict/rules/transactions.rego", (t) =>
      once(
        t,
        '"name": "spent_today",\n\t"type": "counter",\n\t"key": array.concat([input.action, "daily_per_user"], principal_key(input.principal)),\n\t"window": "day",\n',
        '"name": "spent_today",\n\t"type": "counter",\n\t"key": array.concat([input.action, "daily_per_user"], principal_key(input.principal)),\n',
      ),
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/the policy failed: state_queries\[0\]\.window must be minute, hour, day or sliding/);
  });

  it("an obligation without its window: the case table fails through Verdict's own validation, naming the rule", async () => {
    const run = await testWith("verdict/rules/transactions.rego", (t) =>
      once(t, '"limit": limits.daily_per_user,\n\t"window": "day",\n', '"limit": limits.daily_per_user,\n'),
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /FAIL testdata\/decisions_test\.json:\d+ "a human's transfer at the per-transaction limit is allowed and reserved against the daily limit"/,
    );
    expect(run.stdout).toContain('expected "allow"');
    expect(run.stdout).toContain('actual   "deny (policy_error)"');
    expect(run.stdout).toMatch(
      /the policy failed: rule transactions\.daily_per_user: decision\.obligations\[\d+\]\.window must be minute, hour, day or sliding/,
    );
    expect(run.stderr).toContain("case table");
  });

  it("a case whose outcome differs prints expected against actual, every field that differs", async () => {
    const run = await testWith("data.json", (t) => t.replace(/("payments:transfer": \{\s*"per_transaction": 500,\s*"daily_per_user": )1000/, "$1900"));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      / {2}reserves:\n {4}expected \[\{"key":\["payments:transfer","daily_per_user","https:\/\/issuer\.example","user-1"\],"amount":500,"limit":1000\}\]\n {4}actual {3}\[\{"key":\["payments:transfer","daily_per_user","https:\/\/issuer\.example","user-1"\],"amount":500,"limit":900\}\]/,
    );
  });

  it("a malformed case: file, line and what was expected", async () => {
    const run = await testWith("testdata/decisions_test.json", (t) =>
      once(t, '"expect": {"effect": "allow", "reasons": [], "rules": []}}', '"expect": {"efect": "allow", "reasons": [], "rules": []}}'),
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/testdata\/decisions_test\.json:\d+:\d+: decision_cases\[0\]\.expect: efect is not a key the schema declares/);
  });

  it("a case input that Verdict would never send (a string where the input schema has a number): file, line, case", async () => {
    const run = await testWith("testdata/decisions_test.json", (t) => once(t, '"now": 1700000000}', '"now": "1700000000"}'));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/testdata\/decisions_test\.json:\d+:\d+: .*case "reading an invoice with invoices:read is allowed": input now must be integer/);
  });

  it("a rule reading an input field the contract does not have: opa check with the input schema", async () => {
    const run = await testWith("verdict/rules/agents.rego", (t) => t.replace("input.principal.client_type", "input.principal.clienttype"));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/agents\.rego:\d+: rego_type_error: undefined ref: input\.principal\.clienttype/);
  });
});

/** The line (from 1) of a file that holds `text`. */
function lineWith(file: string, text: string): number {
  return (
    readFileSync(file, "utf8")
      .split("\n")
      .findIndex((l) => l.includes(text)) + 1
  );
}
