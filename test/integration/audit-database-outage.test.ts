// Nothing lost: a real Verdict over gRPC, its database stopped in the middle of a run
// and started again on the same data directory; every decision ends up as exactly
// one record.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startLocalMongo, type MongoServerProcess } from "../../src/dev/index.js";
import { freePort } from "../support/mongo-servers.js";
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

/** One decision of a mix: reads (no state), transfers (state: ALLOW, or DENY state_unavailable while the database is down), invalid tokens. */
async function decideOne(i: number): Promise<{ id: string; decision: string; reasons: string[] }> {
  const kind = i % 3;
  const token = kind === 2 ? "not-a-token" : await t.issuer.token({ scope: "invoices:read payments:write", sub: `user-${i}` });
  const response = await t.client.check({
    token,
    action: kind === 1 ? "payments:transfer" : "invoices:read",
    resource: { type: kind === 1 ? "account" : "invoice", id: `r-${i}` },
    context: kind === 1 ? { amount: 10 } : {},
    requestId: `outage-${i}`,
  });
  return { id: response.decision_id, decision: response.decision, reasons: response.reasons.map((r) => r.code) };
}

/** A client that retries one transfer, with one token, without pause. */
async function retrier(running: () => boolean, made: { id: string; decision: string; reasons: string[] }[]): Promise<void> {
  const token = await t.issuer.token({ scope: "payments:write", sub: "retrier" });
  while (running()) {
    const response = await t.client.check({ token, action: "payments:transfer", resource: { type: "account", id: "acc-r" }, context: { amount: 1 } });
    made.push({ id: response.decision_id, decision: response.decision, reasons: response.reasons.map((r) => r.code) });
  }
}

describe("when the database is stopped mid-run and started again", () => {
  it("keeps exactly one record per decision, spilling while it is down and replaying when it returns", async () => {
    // Two clients decide without pause for the whole run, and a third retries one
    // transfer; the database is stopped and started under them, with writes in flight.
    const made: { id: string; decision: string; reasons: string[] }[] = [];
    const retried: { id: string; decision: string; reasons: string[] }[] = [];
    let next = 0;
    let running = true;
    const loop = async () => {
      while (running) made.push(await decideOne(next++));
    };
    const loops = [loop(), loop(), retrier(() => running, retried)];
    const until = (count: number) => vi.waitFor(() => expect(made.length).toBeGreaterThanOrEqual(count), { timeout: 30_000, interval: 10 });

    await until(40);
    await database?.stop();
    database = undefined;
    const stoppedAt = made.length;
    await until(stoppedAt + 40);
    await vi.waitFor(() => expect(t.verdict.audit?.stats().spilled).toBeGreaterThan(0), { timeout: 10_000 });
    expect(readdirSync(join(spillDir, t.database)).some((name) => name.endsWith(".jsonl"))).toBe(true);
    // decisions went on while the database was down: transfers were denied (fail closed)
    expect(made.slice(stoppedAt).some((d) => d.reasons.includes("state_unavailable"))).toBe(true);

    database = await startLocalMongo({ dbpath, port });
    const restartedAt = made.length;
    await until(restartedAt + 40);
    running = false;
    await Promise.all(loops);

    const ids = [...made, ...retried].map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Each decision with a verified token is one record; refusals of a token, and the retried request's
    // refusals for unavailable state, are counted (docs/audit.md): their records add up to exactly as many
    // refusals, never one lost or counted twice.
    const refused = made.filter((d) => d.reasons.includes("token_malformed")).map((d) => d.id);
    const unavailable = retried.filter((d) => d.reasons.join() === "state_unavailable").map((d) => d.id);
    const decided = ids.filter((id) => !refused.includes(id) && !unavailable.includes(id));
    expect(refused.length).toBeGreaterThan(0);
    expect(unavailable.length).toBeGreaterThan(10);
    const client = new MongoClient(database.uri, { serverSelectionTimeoutMS: 5_000 });
    try {
      const decisions = client.db(t.database).collection("decisions");
      const stored = async () =>
        (await decisions.find({}, { projection: { _id: 1, count: 1 } }).toArray()).map((d) => ({ id: String(d._id), count: d["count"] as number | undefined }));
      await vi.waitFor(async () => expect((await stored()).reduce((sum, d) => sum + (d.count ?? 1), 0)).toBe(ids.length), { timeout: 30_000, interval: 250 });
      const records = await stored();
      expect(
        records
          .filter((d) => d.count === undefined && !unavailable.includes(d.id))
          .map((d) => d.id)
          .sort(),
      ).toEqual([...decided].sort());
      const counted = records.filter((d) => d.count !== undefined && !unavailable.includes(d.id));
      expect(counted.every((d) => refused.includes(d.id))).toBe(true);
      expect(counted.reduce((sum, d) => sum + (d.count ?? 0), 0)).toBe(refused.length);
      // the retried request's refusals: a few records (one per 10 s window), standing for every one of them
      const ofRetries = records.filter((d) => unavailable.includes(d.id));
      expect(ofRetries.reduce((sum, d) => sum + (d.count ?? 1), 0)).toBe(unavailable.length);
      expect(ofRetries.length).toBeLessThan(unavailable.length / 5);
    } finally {
      await client.close();
    }
    // replayed files are removed
    await vi.waitFor(() => expect(readdirSync(join(spillDir, t.database)).filter((name) => name.endsWith(".jsonl"))).toEqual([]), { timeout: 10_000 });
    const stats = t.verdict.audit?.stats();
    expect(stats).toMatchObject({ refused: 0, lost: 0, rejected: 0 });
    expect(stats?.replayed).toBeGreaterThanOrEqual(stats?.spilled ?? 1);
  });
});
