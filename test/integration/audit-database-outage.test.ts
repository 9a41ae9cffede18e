// Nothing lost: a real Verdict over gRPC, its database stopped in the middle of a run
// and started again on the same data directory; every decision ends up as exactly
// one record.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { freePort, startLocalMongo, type MongoServerProcess } from "../../src/dev/index.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const dbpath = mkdtempSync(join(tmpdir(), "verdict-outage-db-"));
const spillDir = mkdtempSync(join(tmpdir(), "verdict-outage-spill-"));
let port: number;
let database: MongoServerProcess | undefined;
let t: TestVerdict;

beforeAll(async () => {
  port = await freePort();
  database = await startLocalMongo({ dbpath, port });
  t = await startTestVerdict({
    mongoUri: database.uri,
    config: {
      state_timeout_ms: 300,
      audit: { spill_dir: spillDir, batch_size: 7, flush_interval_ms: 20, write_timeout_ms: 1_000, retry_interval_ms: 200 },
    },
  });
});

afterAll(async () => {
  await t?.stop();
  await database?.stop();
  rmSync(dbpath, { recursive: true, force: true });
  rmSync(spillDir, { recursive: true, force: true });
});

/** A mix of decisions: reads (no state), transfers (state: ALLOW, or DENY state_unavailable while the database is down), invalid tokens. */
async function decide(count: number, phase: string): Promise<{ id: string; decision: string; reasons: string[] }[]> {
  const out = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 3;
    const token = kind === 2 ? "not-a-token" : await t.issuer.token({ scope: "invoices:read payments:write", sub: `user-${phase}-${i}` });
    const response = await t.client.check({
      token,
      action: kind === 1 ? "payments:transfer" : "invoices:read",
      resource: { type: kind === 1 ? "account" : "invoice", id: `${phase}-${i}` },
      context: kind === 1 ? { amount: 10 } : {},
      requestId: `${phase}-${i}`,
    });
    out.push({ id: response.decision_id, decision: response.decision, reasons: response.reasons.map((r) => r.code) });
  }
  return out;
}

describe("when the database is stopped mid-run and started again", () => {
  it("keeps exactly one record per decision, spilling while it is down and replaying when it returns", async () => {
    const before = await decide(30, "before");

    await database?.stop();
    database = undefined;
    const during = await decide(30, "during");
    // decisions went on while the database was down: reads allowed, transfers denied (fail closed)
    expect(during.filter((d) => d.decision === "ALLOW")).toHaveLength(10);
    expect(during.filter((d) => d.reasons.includes("state_unavailable"))).toHaveLength(10);
    await vi.waitFor(() => expect(t.verdict.audit?.stats().spilled).toBeGreaterThan(0), { timeout: 10_000 });
    expect(readdirSync(join(spillDir, t.database)).some((name) => name.endsWith(".jsonl"))).toBe(true);

    database = await startLocalMongo({ dbpath, port });
    const after = await decide(30, "after");

    const made = [...before, ...during, ...after].map((d) => d.id);
    expect(new Set(made).size).toBe(90);
    const client = new MongoClient(database.uri, { serverSelectionTimeoutMS: 5_000 });
    try {
      const decisions = client.db(t.database).collection("decisions");
      await vi.waitFor(async () => expect(await decisions.countDocuments()).toBe(made.length), { timeout: 30_000, interval: 250 });
      const stored = (await decisions.find({}, { projection: { _id: 1 } }).toArray()).map((d) => String(d._id));
      expect(stored.sort()).toEqual([...made].sort());
    } finally {
      await client.close();
    }
    // replayed files are removed
    await vi.waitFor(() => expect(readdirSync(join(spillDir, t.database)).filter((name) => name.endsWith(".jsonl"))).toEqual([]), { timeout: 10_000 });
    const stats = t.verdict.audit?.stats();
    expect(stats?.refused).toBe(0);
    expect(stats?.lost).toBe(0);
    expect(stats?.replayed).toBeGreaterThanOrEqual(stats?.spilled ?? 1);
  });
});
