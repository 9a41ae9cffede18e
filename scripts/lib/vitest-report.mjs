// What a vitest JSON report (--reporter=json) counts: passed and failed tests, and a
// failure for a file that did not run or a run that failed outside any test, so that
// a broken run never reads "0 failed". Shared by npm test and npm run test:runtimes.
import { readFileSync } from "node:fs";

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
  if (json.numFailedTests > 0) problems.push(`${json.numFailedTests} ${label} test(s)`);
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
