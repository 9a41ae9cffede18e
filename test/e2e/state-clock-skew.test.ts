// Verdict processes sharing one database whose host clocks disagree: a sliding window
// goes by the database's clock, so a process whose clock is 8 s ahead does not prune
// the others' live buckets, and one 8 s behind does not write into buckets already
// old. Before, either let a sliding:10 limit of 3 allow 6 within 3.5 s
// (docs/state.md, "One clock: the database's").
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildFixtureBundle } from "../support/bundles.js";
import { serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { callersConfig } from "../support/config.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { scrape, valueOf } from "../support/metrics.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const API_KEY = "clock-key";
const SKEW = fileURLToPath(new URL("../fixtures/faults/clock-skew.mjs", import.meta.url));

interface Skewed {
  serving: ServingVerdict;
  client: TestClient;
}

let issuer: TestIssuer;
let right: Skewed;
let ahead: Skewed;
let behind: Skewed;

/** `verdict serve` whose Date.now runs `offsetMs` off, ready (it has reached the database, and measured its clock). */
async function serveSkewed(config: string, offsetMs: number): Promise<Skewed> {
  const serving = await serveVerdict(["--config", config], { NODE_OPTIONS: `--import ${SKEW}`, VERDICT_TEST_CLOCK_OFFSET_MS: String(offsetMs) });
  await vi.waitFor(async () => expect((await fetch(`${serving.adminUrl}/readyz`)).status).toBe(200), { timeout: 20_000, interval: 100 });
  return { serving, client: new TestClient(serving.address, API_KEY) };
}

beforeAll(async () => {
  issuer = await createTestIssuer();
  const dir = mkdtempSync(join(tmpdir(), "verdict-clock-"));
  const config = join(dir, "verdict.json");
  writeFileSync(
    config,
    JSON.stringify({
      listen: "127.0.0.1:0",
      ...callersConfig(issuer, API_KEY),
      bundle: await buildFixtureBundle("context-obligations-policy"),
      mongodb_uri: mongoUri(),
      mongodb_database: uniqueDatabaseName("clock"),
      processes: 1,
      policy_workers: 1,
      log_level: "info",
      audit: { spill_dir: join(dir, "spill") },
    }),
  );
  [right, ahead, behind] = await Promise.all([serveSkewed(config, 0), serveSkewed(config, 8_000), serveSkewed(config, -8_000)]);
});

afterAll(async () => {
  const all = [right, ahead, behind].filter(Boolean);
  for (const { client } of all) client.close();
  await Promise.all(all.map(({ serving }) => stopProcess(serving.child)));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Tries `n` reservations of 1 under a sliding:10 limit of 3 through `via`, one after another: how many were allowed. */
async function tries(via: Skewed, token: string, key: string[], n: number): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < n; i++) {
    const response = await via.client.check({
      token,
      action: "raw",
      context: { obligations: [{ type: "reserve", key, amount: 1, limit: 3, window: "sliding:10" }] },
    });
    if (response.decision === "ALLOW") allowed++;
    else expect(response.reasons[0]?.code).toBe("limit_exceeded");
  }
  return allowed;
}

describe("processes whose clocks are 8 s apart, sharing one database", () => {
  it("each measured the database's clock: the offset gauge says how far its own is", async () => {
    const offset = async (skewed: Skewed) => valueOf(await scrape(skewed.serving.adminUrl), "verdict_database_clock_offset_seconds") ?? NaN;
    expect(Math.abs(await offset(right))).toBeLessThan(0.1);
    expect(Math.abs((await offset(ahead)) + 8)).toBeLessThan(0.1);
    expect(Math.abs((await offset(behind)) - 8)).toBeLessThan(0.1);
    // Said once, at the measurement: not at every one.
    for (const skewed of [ahead, behind])
      expect(
        await skewed.serving.settledLines(
          "this process's clock is more than 1 s from the database's: windowed counters use the database's; fix the hosts' time synchronization",
        ),
      ).toHaveLength(1);
  });

  it("a sliding:10 limit of 3 allows 3 within 10 s though one process's clock is 8 s ahead", async () => {
    const token = await issuer.token({ sub: `user-${randomUUID()}` });
    const key = ["skew", randomUUID()];
    await sleep(1000 - (Date.now() % 1000) + 50); // just after a second boundary
    const t0 = Date.now();
    expect(await tries(right, token, key, 4)).toBe(3);
    // 3.2 s later, the process 8 s ahead saw the first bucket 11 s old (and pruned it).
    await sleep(3_200 - (Date.now() - t0));
    const later = (await tries(ahead, token, key, 4)) + (await tries(right, token, key, 4));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(later).toBe(0);
  });

  it("a sliding:10 limit of 3 allows 3 within 10 s though one process's clock is 8 s behind", async () => {
    const token = await issuer.token({ sub: `user-${randomUUID()}` });
    const key = ["skew", randomUUID()];
    await sleep(1000 - (Date.now() % 1000) + 50);
    const t0 = Date.now();
    // The process 8 s behind wrote into buckets 8 s old: they left the window after 2-3 s.
    expect(await tries(behind, token, key, 4)).toBe(3);
    await sleep(3_200 - (Date.now() - t0));
    const later = (await tries(right, token, key, 4)) + (await tries(behind, token, key, 4));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(later).toBe(0);
  });
});
