// The console's live summaries keep their sample between refreshes and read only
// what is new (src/server/admin/console/live-sample.ts): over the real trail store
// and a MongoDB-wire server, a refresh sees a record written after the last read,
// reads far fewer records than a full read, trims to the window and the limit
// exactly as a full read would, and a full read now and then picks up a record
// written later than the lag.
import type { Collection, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditStore, parseAuditQuery, type AuditQuery, type DecisionRecord, type TrailRecord } from "../../src/audit/index.js";
import { Database } from "../../src/database/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { LIVE_FULL_READ_MS, liveSampleLag, LiveSamples, type SampleSource } from "../../src/server/admin/console/index.js";
import { connectTestClient, mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const FIELDS = ["time", "decision", "client_id"] as const;
const LAG = liveSampleLag(200); // the audit writer's default flush interval

let client: MongoClient;
const databases: Database[] = [];

beforeAll(async () => {
  client = await connectTestClient();
});
afterAll(async () => {
  await Promise.all(databases.map((database) => database.close()));
  await client.close();
});

/** A trail of its own, and a source that counts what each read returned. */
function trail(): { store: AuditStore; decisions: Collection<TrailRecord>; source: SampleSource; reads: number[] } {
  const name = uniqueDatabaseName("console_live");
  const database = Database.open({ uri: mongoUri(), database: name, log: silentLogger() });
  databases.push(database);
  const store = AuditStore.open(database, { timeoutMs: 5_000 });
  const reads: number[] = [];
  const source: SampleSource = {
    sample: async (query, now, fields) => {
      const records = await store.sample(query, now, fields);
      reads.push(records.length);
      return records;
    },
  };
  return { store, decisions: client.db(name).collection<TrailRecord>("decisions"), source, reads };
}

let sequence = 0;
/** A decision record as the writer keeps it. */
function record(time: number, fields: Partial<DecisionRecord> = {}): DecisionRecord {
  sequence += 1;
  return {
    _id: `d-${sequence.toString().padStart(6, "0")}`,
    time: new Date(time),
    expires_at: new Date(time + 86_400_000),
    caller: { api: "invoices-api", audience: "https://invoices.example" },
    subject: "alice",
    client_id: "agent-a",
    actors: [],
    action: "invoices:read",
    decision: "ALLOW",
    reasons: [],
    obligations: [],
    policy_revision: "r",
    latency_ms: 1,
    request_id: "",
    token: {},
    dry_run: false,
    resource: { type: "invoice", id: "inv-1", attributes: {} },
    context: {},
    ...fields,
  };
}

const windowOf = (since: string, now: number, limit = 5_000): AuditQuery => ({ ...parseAuditQuery({ since }, now), limit });
const ids = (records: readonly Partial<DecisionRecord>[]) => records.map((r) => r._id);

describe("a live summary's sample", () => {
  it("shows a record written after the first read in the next refresh, reading only the records near the newest", async () => {
    const t = trail();
    const now = Date.now();
    // 300 records, one every 100 ms over the last 30 s.
    await t.decisions.insertMany(Array.from({ length: 300 }, (_, i) => record(now - 1_000 - i * 100)));
    const live = new LiveSamples({ lagMs: LAG, fullEveryMs: LIVE_FULL_READ_MS, maxEntries: 4 });
    const first = await live.read(t.source, "k", windowOf("1h", now), now, FIELDS);
    expect(first).toHaveLength(300);
    expect(t.reads).toEqual([300]);

    const late = record(now + 500, { client_id: "agent-new" });
    await t.decisions.insertOne(late);
    const later = now + 1_000;
    const second = await live.read(t.source, "k", windowOf("1h", later), later, FIELDS);
    expect(second).toHaveLength(301);
    expect(second[0]?._id).toBe(late._id);
    expect(new Set(ids(second)).size).toBe(301); // no record twice
    // The refresh read the new record and those within the lag of the newest kept (1 s + 12.2 s), not the 300.
    const withinLag = Math.floor(LAG / 100) + 1;
    expect(t.reads[1]).toBeLessThanOrEqual(withinLag + 1);
    expect(t.reads[1]).toBeLessThan(300);
    // Exactly what a full read says.
    expect(ids(second)).toEqual(ids(await t.store.sample(windowOf("1h", later), later, FIELDS)));
  });

  it("picks up a record written later than the lag at the next full read", async () => {
    const t = trail();
    const now = Date.now();
    await t.decisions.insertMany(Array.from({ length: 50 }, (_, i) => record(now - 1_000 - i * 100)));
    const live = new LiveSamples({ lagMs: LAG, fullEveryMs: LIVE_FULL_READ_MS, maxEntries: 4 });
    await live.read(t.source, "k", windowOf("1h", now), now, FIELDS);

    // A record whose time is well before the newest kept, written now (as a spill file's replay would).
    const straggler = record(now - 1_000 - LAG - 5_000, { client_id: "agent-replayed" });
    await t.decisions.insertOne(straggler);
    const soon = now + 2_000;
    expect(ids(await live.read(t.source, "k", windowOf("1h", soon), soon, FIELDS))).not.toContain(straggler._id);

    const afterFullRead = now + LIVE_FULL_READ_MS;
    const whole = await live.read(t.source, "k", windowOf("1h", afterFullRead), afterFullRead, FIELDS);
    expect(ids(whole)).toContain(straggler._id);
    expect(whole).toHaveLength(51);
    expect(t.reads.at(-1)).toBe(51); // read whole
  });

  it("trims to the window as it moves and to the limit, as a full read would", async () => {
    const t = trail();
    const now = Date.now();
    // 200 records over the last 20 s.
    await t.decisions.insertMany(Array.from({ length: 200 }, (_, i) => record(now - i * 100)));
    const live = new LiveSamples({ lagMs: LAG, fullEveryMs: LIVE_FULL_READ_MS, maxEntries: 4 });
    expect(await live.read(t.source, "window", windowOf("15s", now), now, FIELDS)).toHaveLength(151); // i * 100 ms <= 15 s
    expect(await live.read(t.source, "limit", windowOf("1h", now, 120), now, FIELDS)).toHaveLength(120);

    // 5 s later, with 30 new records: the window's oldest 5 s are gone, the limit keeps the newest 120.
    await t.decisions.insertMany(Array.from({ length: 30 }, (_, i) => record(now + 100 + i * 100)));
    const later = now + 5_000;
    const windowed = await live.read(t.source, "window", windowOf("15s", later), later, FIELDS);
    expect(ids(windowed)).toEqual(ids(await t.store.sample(windowOf("15s", later), later, FIELDS)));
    expect(windowed.every((r) => (r.time?.getTime() ?? 0) >= later - 15_000)).toBe(true);
    const limited = await live.read(t.source, "limit", windowOf("1h", later, 120), later, FIELDS);
    expect(ids(limited)).toEqual(ids(await t.store.sample(windowOf("1h", later, 120), later, FIELDS)));
    expect(limited).toHaveLength(120);
  });

  it("reads a window with an end whole each time", async () => {
    const t = trail();
    const now = Date.now();
    await t.decisions.insertMany(Array.from({ length: 40 }, (_, i) => record(now - 1_000 - i * 100)));
    const live = new LiveSamples({ lagMs: LAG, fullEveryMs: LIVE_FULL_READ_MS, maxEntries: 4 });
    const bounded: AuditQuery = { ...parseAuditQuery({ since: "1h", until: new Date(now).toISOString() }, now), limit: 5_000 };
    await live.read(t.source, "k", bounded, now, FIELDS);
    await live.read(t.source, "k", bounded, now + 1_000, FIELDS);
    expect(t.reads).toEqual([40, 40]);
  });
});
