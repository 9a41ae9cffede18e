// npm run soak is not part of npm test (its default is ten minutes), but it must keep
// working: a few seconds of it against the test database, end to end, over two
// `verdict serve` processes.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { packageRoot } from "../../src/paths.js";
import { mongoUri } from "../support/mongo.js";

const run = promisify(execFile);

describe("npm run soak", () => {
  it("drives the mix over two processes and ends with its summary line, without an error", async () => {
    const args = ["--import", "tsx", join(packageRoot, "soak", "run.ts"), "--seconds", "6", "--rate", "20", "--bundle", inject("bundlePath")];
    const { stdout, stderr } = await run(process.execPath, args, {
      cwd: packageRoot,
      env: { ...process.env, MONGODB_URI: mongoUri() },
      timeout: 120_000,
      maxBuffer: 8 * 1024 * 1024,
    });
    expect(stderr).toMatch(/over 2 processes/);
    expect(stderr).toMatch(/audit records \d+/);
    const summary = /^soak: errors (\d+), rss_start_mb (\d+), rss_end_mb (\d+), db_docs_growth (\d+)$/m.exec(stdout);
    expect(summary, stdout + stderr).not.toBeNull();
    expect(Number(summary?.[1])).toBe(0);
    expect(Number(summary?.[2])).toBeGreaterThan(0);
  }, 150_000);
});
