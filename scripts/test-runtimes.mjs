#!/usr/bin/env node
// npm run test:runtimes: the unit and integration tests again under the other Node.js
// lines Verdict supports (22 and 24 LTS), after `npm test` has built what they need,
// and the end-to-end suites too under both (24 is the container image's runtime; a
// user may run `verdict` on either). Each runtime
// is the npm registry's `node` package at the version pinned below, fetched with npx
// (cached after the first run); vitest runs under it, and so does every process a test
// starts (they use process.execPath). The unit and integration suites hold what
// depends on the runtime: the policy workers (WebAssembly memory, Atomics, worker
// heaps), token signatures (node:crypto) and the database driver; the end-to-end
// suites add `verdict` itself as it runs in the image (the bundle, the module compile
// cache that only Node 22.1+ has, the cluster of processes), about 5 minutes more each.
// Ends with one line "N passed, N failed" (also .test-results/runtimes.txt); a runtime
// that cannot be fetched counts as one failure.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { finishRun } from "./lib/finish-run.mjs";
import { countVitestReport } from "./lib/vitest-report.mjs";

const SUITES = ["test/unit", "test/integration", "test/e2e"];
const RUNTIMES = [
  { version: "22.23.3", suites: SUITES },
  { version: "24.21.0", suites: SUITES },
];

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const results = join(root, ".test-results");
mkdirSync(results, { recursive: true });

let passed = 0;
let failed = 0;
const problems = [];

/** The path of the node binary of that exact version, fetched from the registry when it is not cached. */
function runtime(version) {
  const probe = spawnSync("npx", ["--yes", `node@${version}`, "-p", "process.version + ' ' + process.execPath"], { cwd: root, encoding: "utf8" });
  const [reported, path] = (probe.stdout ?? "").trim().split(" ");
  if (probe.status !== 0 || reported !== `v${version}` || !path) {
    process.stderr.write(`node@${version}: could not be fetched (${probe.error?.message ?? probe.stderr?.trim() ?? `exit ${probe.status}`})\n`);
    return undefined;
  }
  return path;
}

for (const { version, suites } of RUNTIMES) {
  const label = `vitest on Node ${version}`;
  process.stderr.write(`\n== ${label} (${suites.join(", ")})\n`);
  const node = runtime(version);
  if (!node) {
    failed += 1;
    problems.push(`Node ${version} (not fetched)`);
    continue;
  }
  const report = join(results, `vitest-node-${version}.json`);
  const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
  spawnSync(node, [vitest, "run", ...suites, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`], { cwd: root, stdio: "inherit" });
  const counted = countVitestReport(report, label);
  passed += counted.passed;
  failed += counted.failed;
  problems.push(...counted.problems);
  process.stderr.write(`${label}: ${counted.passed} passed, ${counted.failed} failed\n`);
}

finishRun(results, "runtimes", { passed, failed, problems });
