// What a vitest JSON report (--reporter=json) counts: passed and failed tests, and a
// failure for a file that did not run or a run that failed outside any test, so that
// a broken run never reads "0 failed". Each failed test is named with its file and the
// first line of its message, so that the last lines of a run (all a CI log may keep)
// say what failed. Shared by npm test and npm run test:runtimes.
import { readFileSync } from "node:fs";
import { relative } from "node:path";

/** "file > test name: first line of the message" for each failed test of the report. */
function failedTests(json, label) {
  const named = [];
  for (const file of json.testResults ?? []) {
    for (const test of file.assertionResults ?? []) {
      if (test.status !== "failed") continue;
      const message = String(test.failureMessages?.[0] ?? "")
        .split("\n")[0]
        .slice(0, 200);
      named.push(`${label}: ${relative(process.cwd(), file.name)} > ${test.fullName}: ${message}`);
    }
  }
  return named;
}

/** @returns {{ passed: number, failed: number, problems: string[] }} */
export function countVitestReport(reportFile, label = "vitest") {
  let json;
  try {
    json = JSON.parse(readFileSync(reportFile, "utf8"));
  } catch {
    return { passed: 0, failed: 1, problems: [`${label} (no readable report)`] };
  }
  const problems = [];
  let failed = json.numFailedTests;
  if (json.numFailedTests > 0) problems.push(`${json.numFailedTests} ${label} test(s)`, ...failedTests(json, label));
  if (json.numFailedTestSuites > 0 && json.numFailedTests === 0) {
    failed += json.numFailedTestSuites;
    problems.push(`${json.numFailedTestSuites} ${label} file(s) failed to run`);
  }
  if (json.success === false && json.numFailedTests === 0 && json.numFailedTestSuites === 0) {
    failed += 1;
    problems.push(`${label} run failed (setup or teardown)`);
  }
  return { passed: json.numPassedTests, failed, problems };
}
