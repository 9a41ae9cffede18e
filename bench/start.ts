// npm run bench:start -- [--starts N]: how long `verdict serve` takes from spawn to
// "verdict is serving" (the bench's own measure), at the default configuration
// except the bench's issuer, API, bundle and database, N starts in a row.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createTestIssuer } from "../test/support/issuer.js";
import { buildBenchBundle } from "./bundle.js";
import { startDatabase } from "./database.js";
import { median } from "./report.js";
import { startBenchVerdict } from "./targets/verdict.js";

const { values } = parseArgs({ options: { starts: { type: "string", default: "7" } } });
const starts = Number(values.starts);
const scratch = mkdtempSync(join(tmpdir(), "verdict-start-"));
const bundle = await buildBenchBundle();
const database = await startDatabase();
try {
  const issuer = await createTestIssuer();
  const setup = { issuer, bundle: bundle.path, mongoUri: database.uri, dir: scratch };
  const times: number[] = [];
  for (let i = 0; i < starts; i++) {
    const verdict = await startBenchVerdict(setup, `start${i}`);
    times.push(verdict.process.readyMs);
    await verdict.stop();
  }
  const ms = (n: number) => `${Math.round(n)} ms`;
  console.log(`ready after ${times.map(ms).join(", ")}; median ${ms(median(times))}`);
} finally {
  await database.stop();
  rmSync(scratch, { recursive: true, force: true });
}
