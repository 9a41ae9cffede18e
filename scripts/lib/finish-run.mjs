// How a test run ends, shared by npm test and npm run test:runtimes: the line
// "N passed, N failed" in `<name>.txt`, each failure named in `<name>-failed.txt`
// (.ci/run repeats that list just above its final count, where a CI log's tail keeps
// it), both printed, and the exit status.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** Writes and prints the run's count and failures, then exits: 0 when nothing failed. */
export function finishRun(results, name, { passed, failed, problems }) {
  const summary = `${passed} passed, ${failed} failed`;
  writeFileSync(join(results, `${name}.txt`), summary + "\n");
  const failures = problems.map((p) => `  - ${p}\n`).join("");
  writeFileSync(join(results, `${name}-failed.txt`), failures);
  if (problems.length > 0) process.stderr.write(`\nfailed:\n${failures}`);
  process.stdout.write(`\n${summary}\n`);
  process.exit(failed === 0 ? 0 : 1);
}
