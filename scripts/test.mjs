#!/usr/bin/env node
// npm test: builds what the tests need, runs every check, and ends with one line
// "N passed, N failed" counting vitest tests and opa test rules together (also
// written to .test-results/summary.txt for CI). A step that is not a test (build,
// type check, generated code, lint, format, dependency rules, a policy check such as
// opa fmt/check, Regal or coverage, the Helm chart check) counts as one failure when
// it fails, so the line never reads "0 failed" for a broken run.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { finishRun } from "./lib/finish-run.mjs";
import { countVitestReport } from "./lib/vitest-report.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const results = join(root, ".test-results");
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
const build = tools.ok && step("build (tsc -b)", "npm", ["run", "--silent", "build"]).ok;
if (build) step("type check of the tests", "npx", ["tsc", "-p", "test/tsconfig.json", "--noEmit"]);
step("generated wire types match proto/ (npm run proto)", process.execPath, [join(root, "scripts", "proto.mjs"), "--check"]);
if (build) step("lint (eslint, type-aware, zero warnings)", "npx", ["eslint", ".", "--max-warnings", "0"]);
step("format (prettier --check; npm run format writes it)", "npx", ["prettier", "--check", "."]);
step("dependency rules (dependency-cruiser, docs/architecture.md)", "npx", ["depcruise", "src", "sdk/src", "sdk/gen", "--config", ".dependency-cruiser.cjs"]);

// The shipped policies, and the example policies (AuthZEN certification and Todo),
// each through `verdict policy test` (docs/policies.md#tests): fmt, check with the
// contract's schemas, Regal, opa test, the coverage floor, the case table through
// the compiled bundle, the reason codes. The shipped ones go through the gated
// `verdict policy build`, which runs the same before it writes build/bundle.tar.gz.
// Each opa test rule and each case counts on its own; any other failing step is one.
const policyDirs = ["policies", "examples/authzen-certification/policy", "examples/authzen-todo/policy"];
function countPolicySteps(label, summaryFile) {
  let summary;
  try {
    summary = JSON.parse(readFileSync(summaryFile, "utf8"));
  } catch {
    failed += 1;
    problems.push(`${label} (no summary)`);
    return;
  }
  passed += summary.opaTests.passed + summary.cases.passed;
  failed += summary.opaTests.failed.length + summary.cases.failed.length;
  for (const name of [...summary.opaTests.failed, ...summary.cases.failed]) problems.push(`${label}: ${name}`);
  for (const s of summary.steps) {
    if (s.ok) continue;
    // a failing test or case is counted above; the step counts when it failed without one (did not compile, no report)
    if (s.name === "opa test" && summary.opaTests.failed.length > 0) continue;
    if (s.name === "case table" && summary.cases.failed.length > 0) continue;
    failed += 1;
    problems.push(`${label}: ${s.name}`);
  }
  process.stderr.write(
    `${label}: opa test ${summary.opaTests.passed} passed of ${summary.opaTests.passed + summary.opaTests.failed.length}; cases ${summary.cases.passed} passed of ${summary.cases.passed + summary.cases.failed.length}\n`,
  );
}
if (build) {
  for (const dir of policyDirs) {
    const summaryFile = join(results, `policy-${dir.replaceAll("/", "-")}.json`);
    const args = dir === "policies" ? ["policy", "build", "--threshold", "90"] : ["policy", "test", "--dir", dir, "--threshold", "90"];
    const label = dir === "policies" ? "verdict policy build (tested)" : `verdict policy test (${dir})`;
    step(label, process.execPath, [join(root, "bin", "verdict.js"), ...args, "--summary-json", summaryFile], { counted: true });
    countPolicySteps(label, summaryFile);
  }
}
if (tools.ok) {
  step("helm chart (helm lint, helm template, kubeconform -strict)", process.execPath, [join(root, "scripts", "chart-check.mjs")]);
}

if (build) {
  const report = join(results, "vitest.json");
  step("vitest", "npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...extraArgs], { counted: true });
  const counted = countVitestReport(report);
  passed += counted.passed;
  failed += counted.failed;
  problems.push(...counted.problems);
}

finishRun(results, "summary", { passed, failed, problems });
