// npm run bench is not part of npm test (its figures need a quiet machine), but
// it must keep working: a tiny run against the test database, end to end.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { packageRoot } from "../../src/paths.js";
import { mongoUri } from "../support/mongo.js";

const run = promisify(execFile);

describe("npm run bench", () => {
  it("runs end to end and reports both medians and their ratio", async () => {
    const args = ["--rounds", "2", "--requests", "12", "--warmup", "12", "--pause-ms", "10", "--max-ratio", "1000"];
    const { stdout, stderr } = await run(process.execPath, [join(packageRoot, "bench", "run.mjs"), ...args], {
      env: { ...process.env, MONGODB_URI: mongoUri() },
      timeout: 120_000,
      maxBuffer: 8 * 1024 * 1024,
    });
    const output = stdout + stderr;
    expect(output).toMatch(/median/i);
    expect(output).toMatch(/ratio/i);
  }, 150_000);
});
