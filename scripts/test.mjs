#!/usr/bin/env node
// npm test: builds what the tests need, runs every check, and ends with one line
// "N passed, N failed" counting vitest tests and opa test rules together (also
// written to .test-results/summary.txt for CI). A step that is not a test (build,
// type check, opa fmt/check, coverage, the Helm chart check) counts as one failure when it fails, so the
// line never reads "0 failed" for a broken run.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const results = join(root, ".test-results");
const opa = join(root, ".tools", "bin", "opa");
const extraArgs = process.argv.slice(2); // passed to vitest, e.g. a file filter

rmSync(results, { recursive: true, force: true });
mkdirSync(results, { recursive: true });

let passed = 0;
let failed = 0;
const problems = [];

function step(name, command, args, options = {}) {
  process.stderr.write(`\n== ${name}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: options.capture ? ["ignore", "pipe", "inherit"] : "inherit", maxBuffer: 64 * 1024 * 1024 });
  const ok = !result.error && result.status === 0;
  if (!ok && !options.counted) {
    failed += 1;
    problems.push(name);
  }
  return { ok, stdout: result.stdout?.toString("utf8") ?? "" };
}

const tools = step("tools (npm run tools)", process.execPath, [join(root, "scripts", "tools.mjs")]);
const build =
  tools.ok &&
  step("build (tsc -b)", "npm", ["run", "--silent", "build"]).ok &&
  step("demo policy bundle (verdict policy build)", process.execPath, [join(root, "bin", "verdict.js"), "policy", "build"]).ok;
if (build) step("type check of the tests", "npx", ["tsc", "-p", "test/tsconfig.json", "--noEmit"]);

if (tools.ok) {
  step("opa fmt --fail", opa, ["fmt", "--fail", "--list", "policies"]);
  step("opa check --strict", opa, ["check", "--strict", "policies"]);
  const opaTests = step("opa test", opa, ["test", "--format", "json", "policies"], { capture: true, counted: true });
  try {
    const cases = JSON.parse(opaTests.stdout || "[]");
    for (const c of cases) {
      if (c.fail || c.error) {
        failed += 1;
        problems.push(`opa ${c.package}.${c.name}${c.error ? `: ${c.error.message ?? ""}` : ""}`);
      } else if (!c.skip) passed += 1;
    }
    process.stderr.write(`opa test: ${cases.filter((c) => !c.fail && !c.error && !c.skip).length} passed of ${cases.length}\n`);
  } catch {
    failed += 1;
    problems.push("opa test (no readable result)");
  }
  step("opa test --coverage --threshold 90", opa, ["test", "--coverage", "--threshold", "90", "policies"], { capture: true });
  step("helm chart (helm lint, helm template, kubeconform -strict)", process.execPath, [join(root, "scripts", "chart-check.mjs")]);
}

if (build) {
  const report = join(results, "vitest.json");
  step("vitest", "npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...extraArgs], { counted: true });
  try {
    const json = JSON.parse(readFileSync(report, "utf8"));
    passed += json.numPassedTests;
    failed += json.numFailedTests;
    if (json.numFailedTests > 0) problems.push(`${json.numFailedTests} vitest test(s)`);
    if (json.numFailedTestSuites > 0 && json.numFailedTests === 0) {
      failed += json.numFailedTestSuites;
      problems.push(`${json.numFailedTestSuites} vitest file(s) failed to run`);
    }
    if (json.success === false && json.numFailedTests === 0 && json.numFailedTestSuites === 0) {
      failed += 1;
      problems.push("vitest run failed (setup or teardown)");
    }
  } catch {
    failed += 1;
    problems.push("vitest (no readable report)");
  }
}

const summary = `${passed} passed, ${failed} failed`;
writeFileSync(join(results, "summary.txt"), summary + "\n");
if (problems.length > 0) process.stderr.write(`\nfailed: ${problems.join("; ")}\n`);
process.stdout.write(`\n${summary}\n`);
process.exit(failed === 0 ? 0 : 1);
