// The audit trail against a real MongoDB-wire server: batched writes, escaped keys,
// masking, spill and replay, failing closed, retention, queries and their indexes.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AuditLog,
  AuditStore,
  INDEXES,
  parseAuditQuery,
  isEventRecord,
  publicEntry,
  publicRecord,
  SpillDirectory,
  SpillDirectoryError,
  toSpillLine,
  buildRecord,
  maskRulesFrom,
  type AuditEvent,
  type AuditSettings,
  type DecisionRecord,
} from "../../src/audit/index.js";
import { Database } from "../../src/database/index.js";
import { createLogger, silentLogger, type Logger } from "../../src/observability/index.js";
import { startDelayProxy, type DelayProxy } from "../support/delay-proxy.js";
import { captureLog } from "../support/log.js";
import { decisionEvent, POLICY_DATA, principal, type EventOptions } from "../support/audit.js";
import { connectTestClient, mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const testLog = process.env["AUDIT_DEBUG"] ? createLogger("debug") : silentLogger();
const UNREACHABLE = "mongodb://127.0.0.1:1/?directConnection=true";
const DAY = 86_400_000;
const settings: AuditSettings = {
  retention_days: 90,
  batch_size: 50,
  flush_interval_ms: 10,
  max_buffered: 10_000,
  retry_interval_ms: 100,
  purge_interval_ms: 3_600_000,
};

let client: MongoClient;
const opened: AuditLog[] = [];
const databases: Database[] = [];
/** Slow networks between a trail and the server, closed after the trails' connections. */
const proxies: DelayProxy[] = [];

beforeAll(async () => {
  client = await connectTestClient();
});
afterAll(async () => {
  await Promise.all(opened.map((log) => log.close()));
  await Promise.all(databases.map((database) => database.close()));
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await client.close();
});

interface Trail {
  log: AuditLog;
  store: AuditStore;
  spill: SpillDirectory;
  database: string;
  decisions: ReturnType<ReturnType<MongoClient["db"]>["collection"]>;
}

function openTrail(
  options: { uri?: string; database?: string; spillDir?: string; settings?: Partial<AuditSettings>; timeoutMs?: number; now?: () => number; log?: Logger } = {},
): Trail {
  const database = options.database ?? uniqueDatabaseName("audit");
  const spill = new SpillDirectory(options.spillDir ?? mkdtempSync(join(tmpdir(), "verdict-audit-spill-")));
  const db = Database.open({ uri: options.uri ?? mongoUri(), database, log: testLog });
  databases.push(db);
  const store = AuditStore.open(db, { timeoutMs: options.timeoutMs ?? 5_000 });
  const log = new AuditLog({
    store,
    spill,
    settings: { ...settings, ...options.settings },
    log: options.log ?? testLog,
    ...(options.now ? { now: options.now } : {}),
  });
  log.start();
  opened.push(log);
  return { log, store, spill, database, decisions: client.db(database).collection("decisions") };
}

function recordMany(log: AuditLog, count: number, options: (i: number) => EventOptions = () => ({})): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const event = decisionEvent(options(i));
    expect(log.record(event)).toBe(true);
    ids.push(event.decisionId);
  }
  return ids;
}

function spillLines(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /^(spill|replay)-.*\.jsonl$/.test(name))
    .flatMap((name) =>
      readFileSync(join(dir, name), "utf8")
        .split("\n")
        .filter((line) => line !== ""),
    );
}

describe("writing", () => {
  it("counts repeats of one request refused for unavailable state as one record that keeps the principal; a request refused once is an ordinary record", async () => {
    const trail = openTrail();
    const unavailable = (id: string, extra: EventOptions = {}): EventOptions => ({
      decision: "DENY",
      reasons: ["state_unavailable"],
      resource: { type: "invoice", id },
      ...extra,
    });
    const retried = recordMany(trail.log, 40, () => unavailable("inv-1"));
    const once = recordMany(trail.log, 1, () => unavailable("inv-2"));
    // another token, or another reason beside it, is not the same refusal
    const otherToken = [1, 2].map(() => {
      const event = { ...decisionEvent(unavailable("inv-1")), tokenHash: "b".repeat(64) };
      expect(trail.log.record(event)).toBe(true);
      return event.decisionId;
    });
    const twoReasons = recordMany(trail.log, 2, () => unavailable("inv-1", { reasons: ["state_unavailable", "limit_exceeded"] }));
    await trail.log.flush();
    const stored = await trail.decisions.find({}, { projection: { _id: 1, count: 1, subject: 1, resource: 1 } }).toArray();
    const byId = new Map(stored.map((doc) => [String(doc._id), doc]));
    expect(byId.get(retried[0] as string)).toMatchObject({ count: 40, subject: "alice", resource: { id: "inv-1" } });
    expect(retried.slice(1).some((id) => byId.has(id))).toBe(false);
    expect(byId.get(once[0] as string)).not.toHaveProperty("count");
    // the other token's two are counted apart from the first token's
    expect(byId.get(otherToken[0] as string)).toMatchObject({ count: 2 });
    for (const id of twoReasons) expect(byId.get(id)).not.toHaveProperty("count");
    expect(stored).toHaveLength(5);
    expect(trail.log.stats()).toMatchObject({ accepted: 45, written: 5, refused: 0 });
  });

  it("writes every record it takes to the decisions collection, keyed by decision id", async () => {
    const trail = openTrail();
    const ids = recordMany(trail.log, 230);
    await trail.log.flush();
    expect(await trail.decisions.countDocuments()).toBe(230);
    const stored = await trail.decisions.find({}, { projection: { _id: 1 } }).toArray();
    expect(stored.map((d) => String(d._id)).sort()).toEqual([...ids].sort());
    expect(trail.log.stats()).toMatchObject({ accepted: 230, written: 230, spilled: 0, refused: 0 });
  });

  it("stores caller keys escaped, so no stored field name is an operator or a path, and returns them as sent", async () => {
    const trail = openTrail();
    const [id] = recordMany(trail.log, 1, () => ({
      context: { $where: "1", "a.b": { $gt: "" }, list: [{ "x.y": 1 }] },
      resource: { type: "t", id: "i", attributes: { $ne: null } },
    }));
    await trail.log.flush();
    const raw = await trail.decisions.findOne({ _id: id as never });
    const keys: string[] = [];
    const walk = (value: unknown) => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value !== null && typeof value === "object" && !(value instanceof Date)) {
        for (const [key, item] of Object.entries(value)) {
          keys.push(key);
          walk(item);
        }
      }
    };
    walk(raw);
    expect(keys.filter((k) => k.startsWith("$") || k.includes("."))).toEqual([]);
    expect(raw?.["context"]).toEqual({ "%24where": "1", "a%2Eb": { "%24gt": "" }, list: [{ "x%2Ey": 1 }] });
    const { records } = await trail.store.query(parseAuditQuery({}, Date.now()), Date.now());
    expect(publicRecord(records[0] as DecisionRecord).context).toEqual({ $where: "1", "a.b": { $gt: "" }, list: [{ "x.y": 1 }] });
    expect(publicRecord(records[0] as DecisionRecord).resource.attributes).toEqual({ $ne: null });
  });

  it("never writes a masked or dropped value", async () => {
    const trail = openTrail();
    recordMany(trail.log, 1, () => ({
      context: { payment: { card_number: "4000 0566 5566 5556", password: "correct horse" }, note: "card 5555555555554444 on file" },
      resource: { type: "customer", id: "c-1", attributes: { email: "alice@example.com" } },
    }));
    await trail.log.flush();
    const text = JSON.stringify(await trail.decisions.find({}).toArray());
    for (const secret of ["4000 0566 5566 5556", "correct horse", "5555555555554444", "alice@example.com", "password"]) expect(text).not.toContain(secret);
    expect(text).toContain("card_number");
  });

  it("keeps the last masking rules when a reloaded bundle has no settings.audit, and says so in the log", async () => {
    const captured = captureLog();
    const trail = openTrail({ log: captured.log });
    const card = "4000 0566 5566 5556";
    recordMany(trail.log, 1, () => ({ context: { card_number: card } })); // the bundle it started with
    const reloaded = { settings: { limits: {} } }; // a new bundle whose data says nothing about masking
    recordMany(trail.log, 2, () => ({ context: { card_number: card, note: `card ${card}` }, data: reloaded }));
    await trail.log.flush();
    const text = JSON.stringify(await trail.decisions.find({}).toArray());
    expect(await trail.decisions.countDocuments()).toBe(3);
    expect(text).not.toContain(card);
    const warnings = captured.lines().filter((line) => String(line["msg"]).includes("no settings.audit"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.["msg"]).toMatch(/keeping the masking rules of the previous bundle/);
  });

  it("keeps audit events beside decisions, through the same writer, as documents of kind event", async () => {
    const trail = openTrail();
    const [decisionId] = recordMany(trail.log, 1);
    expect(trail.log.recordEvent(suspensionEvent({ reason: "loops on refunds", decision_id: decisionId }))).toBe(true);
    await trail.log.flush();
    const events = await trail.decisions.find({ kind: "event" }).toArray();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: "event",
      event: "suspension",
      action: "suspended",
      actor: { via: "grpc", api: "ops-api", subject: "oncall@example.com" },
      target: { kind: "agent", client_id: "agent-7" },
      client_id: "agent-7",
      reason: "loops on refunds",
      decision_id: decisionId,
      details: { seconds: 3600 },
    });
    expect(events[0]?.["_id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(events[0]?.["expires_at"]).toBeInstanceOf(Date);
    // The decision is unchanged: no kind field.
    expect(await trail.decisions.countDocuments({ kind: { $exists: false } })).toBe(1);
    expect(trail.log.stats()).toMatchObject({ accepted: 2, written: 2 });
  });

  it("writes every buffered record before close resolves", async () => {
    const trail = openTrail({ settings: { flush_interval_ms: 60_000, batch_size: 1_000 } });
    recordMany(trail.log, 20);
    expect(trail.log.stats().buffered).toBe(20);
    await trail.log.close();
    expect(await trail.decisions.countDocuments()).toBe(20);
  });

  it("writes a refused token recorded while it closes during a slow write, and spills one recorded after: every record taken is kept", async () => {
    const target = new URL(mongoUri());
    const proxy = await startDelayProxy({ host: target.hostname, port: Number(target.port) });
    proxies.push(proxy);
    const spillDir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    const trail = openTrail({ uri: `mongodb://${proxy.address}/?directConnection=true`, spillDir, settings: { flush_interval_ms: 60_000, batch_size: 1_000 } });
    recordMany(trail.log, 1);
    await trail.log.flush(); // indexes made and a connection open, before the database turns slow
    const insert = vi.spyOn(trail.store, "insert");
    recordMany(trail.log, 1);
    proxy.setDelay(300);
    const closed = trail.log.close();
    await vi.waitFor(() => expect(insert).toHaveBeenCalledTimes(1)); // the last write is under way, slowly
    const refusal = () => decisionEvent({ decision: "DENY", reasons: ["token_expired"], principal: null });
    const whileClosing = refusal();
    expect(trail.log.record(whileClosing)).toBe(true);
    await closed;
    expect(await trail.decisions.countDocuments({ _id: whileClosing.decisionId as never })).toBe(1);
    const afterClose = refusal();
    expect(trail.log.record(afterClose)).toBe(true);
    expect(spillLines(spillDir).join("\n")).toContain(afterClose.decisionId);
    const { accepted, written, spilled, lost } = trail.log.stats();
    expect({ accepted, written, spilled, lost }).toEqual({ accepted: 4, written: 3, spilled: 1, lost: 0 });
    expect(written + spilled).toBe(accepted);
  });

  it("creates the query indexes and the TTL index", async () => {
    const trail = openTrail();
    await vi.waitFor(async () => {
      const indexes = await trail.decisions.listIndexes().toArray();
      expect(indexes.map((i) => i["name"])).toEqual(expect.arrayContaining(INDEXES.map((i) => i.name)));
      expect(indexes.find((i) => i["name"] === "audit_expires_at_ttl")?.["expireAfterSeconds"]).toBe(0);
    });
  });
});

describe("a batch the database takes in part", () => {
  it("counts a record already there (the same decision id) as written, and refuses nothing", async () => {
    const trail = openTrail();
    await trail.store.ensureIndexes(); // as the writer does before its first write
    const record = buildRecord(decisionEvent(), { masks: maskRulesFrom(POLICY_DATA), retentionMs: 90 * DAY });
    expect(await trail.store.insert([record])).toEqual({ written: 1, refused: [] });
    const again = buildRecord(decisionEvent(), { masks: maskRulesFrom(POLICY_DATA), retentionMs: 90 * DAY });
    expect(await trail.store.insert([record, again])).toEqual({ written: 2, refused: [] });
    expect(await trail.decisions.countDocuments()).toBe(2);
  });
});

describe("when the database is unavailable", () => {
  it("spills every record to the file, and a later process replays them into the database", async () => {
    const database = uniqueDatabaseName("audit_spill");
    const spillDir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    const down = openTrail({ uri: UNREACHABLE, database, spillDir, timeoutMs: 300 });
    const ids = recordMany(down.log, 40);
    await vi.waitFor(() => expect(down.log.stats().spilled).toBe(40), { timeout: 10_000 });
    expect(down.log.stats().databaseAvailable).toBe(false);
    await down.log.close();
    expect(spillLines(spillDir)).toHaveLength(40);

    const up = openTrail({ database, spillDir });
    await vi.waitFor(async () => expect(await up.decisions.countDocuments()).toBe(40), { timeout: 10_000 });
    const stored = await up.decisions.find({}, { projection: { _id: 1 } }).toArray();
    expect(stored.map((d) => String(d._id)).sort()).toEqual([...ids].sort());
    await vi.waitFor(() => expect(spillLines(spillDir)).toEqual([]));
    expect(up.log.stats().replayed).toBe(40);
  });

  it("spills audit events like decisions, and a later process replays them as events", async () => {
    const database = uniqueDatabaseName("audit_spill_events");
    const spillDir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    const down = openTrail({ uri: UNREACHABLE, database, spillDir, timeoutMs: 300 });
    expect(down.log.recordEvent(suspensionEvent({ action: "resumed" }))).toBe(true);
    await vi.waitFor(() => expect(down.log.stats().spilled).toBe(1), { timeout: 10_000 });
    await down.log.close();

    const up = openTrail({ database, spillDir });
    await vi.waitFor(async () => expect(await up.decisions.countDocuments()).toBe(1), { timeout: 10_000 });
    const [stored] = await up.decisions.find({}).toArray();
    expect(stored).toMatchObject({ kind: "event", event: "suspension", action: "resumed", target: { client_id: "agent-7" } });
    expect(stored?.["time"]).toBeInstanceOf(Date);
  });

  it("spills what is buffered when it closes, masked like everything it writes", async () => {
    const spillDir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    const down = openTrail({ uri: UNREACHABLE, spillDir, timeoutMs: 300, settings: { flush_interval_ms: 60_000, batch_size: 1_000 } });
    const token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzcGlsbCJ9.c3BpbGwtc2lnbmF0dXJl";
    recordMany(down.log, 25, () => ({ token, context: { card_number: "4111111111111111", password: "hunter2" } }));
    await down.log.close();
    const lines = spillLines(spillDir);
    expect(lines).toHaveLength(25);
    expect(down.log.stats()).toMatchObject({ spilled: 25, lost: 0 });
    const text = lines.join("\n");
    for (const secret of ["4111111111111111", "hunter2", token, "c3BpbGwtc2lnbmF0dXJl"]) expect(text).not.toContain(secret);
  });

  it("keeps memory bounded: past max_buffered, the buffer moves to the spill file", async () => {
    const spillDir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    const slow = openTrail({ uri: UNREACHABLE, spillDir, timeoutMs: 5_000, settings: { max_buffered: 10, batch_size: 5, flush_interval_ms: 60_000 } });
    recordMany(slow.log, 35);
    const stats = slow.log.stats();
    expect(stats.buffered).toBeLessThanOrEqual(10);
    expect(stats.writing).toBeLessThanOrEqual(5);
    expect(stats.accepted).toBe(35);
    expect(spillLines(spillDir).length + stats.buffered + stats.writing).toBe(35);
  });

  it("keeps memory bounded in bytes too: past max_buffered_bytes, far below max_buffered, the buffer moves to the spill file", async () => {
    const spillDir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    const MiB = 1024 * 1024;
    const slow = openTrail({
      uri: UNREACHABLE,
      spillDir,
      timeoutMs: 5_000,
      settings: { max_buffered: 10_000, max_buffered_bytes: MiB, batch_size: 500, flush_interval_ms: 60_000 },
    });
    // 100 records with 30 KB of context each: 3 MB, a hundredth of max_buffered
    const note = "n".repeat(30_000);
    recordMany(slow.log, 100, () => ({ context: { note } }));
    const stats = slow.log.stats();
    expect(stats.accepted).toBe(100);
    expect(stats.buffered).toBeLessThan(40);
    expect(stats.bufferedBytes).toBeLessThanOrEqual(MiB);
    expect(spillLines(spillDir).length + stats.buffered + stats.writing).toBe(100);
  });

  it("refuses records (fails closed) only when the buffer is full and the spill file cannot be written, and recovers", async () => {
    const spillDir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    const trail = openTrail({
      uri: UNREACHABLE,
      spillDir,
      timeoutMs: 200,
      settings: { max_buffered: 5, batch_size: 5, flush_interval_ms: 5, retry_interval_ms: 100 },
    });
    // The spill directory is replaced by a file: nothing can be written there.
    rmSync(spillDir, { recursive: true });
    writeFileSync(spillDir, "");
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 40 && refused === 0; i++) {
      if (trail.log.record(decisionEvent())) accepted += 1;
      else refused += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(refused).toBe(1);
    expect(trail.log.ready()).toBe(false);
    expect(trail.log.stats()).toMatchObject({ refused: 1, spilled: 0, lost: 0 });

    rmSync(spillDir);
    mkdirSync(spillDir);
    await vi.waitFor(() => expect(trail.log.ready()).toBe(true), { timeout: 5_000 });
    await vi.waitFor(() => expect(spillLines(spillDir)).toHaveLength(accepted), { timeout: 5_000 });
    expect(trail.log.record(decisionEvent())).toBe(true);
  });
});

describe("replay", () => {
  const masks = maskRulesFrom(POLICY_DATA);
  const records = (count: number) => Array.from({ length: count }, () => buildRecord(decisionEvent(), { masks, retentionMs: DAY }));

  it("is idempotent: records already in the database are kept once", async () => {
    const database = uniqueDatabaseName("audit_replay");
    const spillDir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    const batch = records(10);
    await client
      .db(database)
      .collection("decisions")
      .insertMany(batch.slice(0, 5) as never[]);
    const signer = new SpillDirectory(spillDir);
    writeFileSync(join(spillDir, "spill-999999999-0a0a0a.jsonl"), batch.map((r) => signer.signedLine(r)).join(""));
    const trail = openTrail({ database, spillDir });
    await vi.waitFor(() => expect(existsSync(join(spillDir, "spill-999999999-0a0a0a.jsonl")) || spillLines(spillDir).length > 0).toBe(false), {
      timeout: 10_000,
    });
    expect(await trail.decisions.countDocuments()).toBe(10);
  });

  it("keeps unreadable lines (a torn last line) in a rejected file and replays the rest", async () => {
    const spillDir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    const batch = records(3);
    const signer = new SpillDirectory(spillDir);
    const torn = signer.signedLine(records(1)[0] as DecisionRecord).slice(0, 120);
    writeFileSync(join(spillDir, "spill-999999999-0b0b0b.jsonl"), batch.map((r) => signer.signedLine(r)).join("") + torn);
    const trail = openTrail({ spillDir });
    await vi.waitFor(async () => expect(await trail.decisions.countDocuments()).toBe(3), { timeout: 10_000 });
    await vi.waitFor(() => expect(spillLines(spillDir)).toEqual([]));
    const rejected = readdirSync(spillDir).filter((name) => name.startsWith("rejected-"));
    expect(rejected).toHaveLength(1);
    expect(readFileSync(join(spillDir, rejected[0] as string), "utf8")).toBe(torn + "\n");
    expect(trail.log.stats().rejected).toBe(1);
  });

  it("never replays a planted file (no HMAC, a wrong one, an edited record): logs it and keeps it for investigation", async () => {
    const database = uniqueDatabaseName("audit_forged");
    const spillDir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    const signer = new SpillDirectory(spillDir);
    const [genuine, planted, wrongKey, edited] = records(4) as [DecisionRecord, DecisionRecord, DecisionRecord, DecisionRecord];
    const forgedAllow = { ...planted, decision: "ALLOW" as const, subject: "mallory" };
    const otherKey = new SpillDirectory(mkdtempSync(join(tmpdir(), "verdict-audit-spill-")));
    const lines = [
      signer.signedLine(genuine),
      toSpillLine(forgedAllow), // written by hand, no HMAC
      otherKey.signedLine(wrongKey), // signed with another key
      signer.signedLine(edited).replace(`"subject":"alice"`, `"subject":"admin"`), // edited after signing
    ];
    writeFileSync(join(spillDir, "spill-999999998-0c0c0c.jsonl"), lines.join(""));
    const captured = captureLog();
    const trail = openTrail({ database, spillDir, log: captured.log });
    await vi.waitFor(() => expect(spillLines(spillDir)).toEqual([]), { timeout: 10_000 });
    await vi.waitFor(async () => expect(await trail.decisions.countDocuments()).toBe(1), { timeout: 10_000 });
    expect((await trail.decisions.find({}).toArray()).map((d) => String(d._id))).toEqual([genuine._id]);
    expect(trail.log.stats()).toMatchObject({ forged: 3, replayed: 1 });
    const logged = captured.lines().find((line) => String(line["msg"]).includes("did not write"));
    expect(logged).toMatchObject({ level: 50, lines: 3 });
    const rejected = readdirSync(spillDir).filter((name) => name.startsWith("rejected-"));
    expect(readFileSync(join(spillDir, rejected[0] as string), "utf8")).toContain("mallory");
  });

  it("tightens a spill directory and key with loose modes, and says so", () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    chmodSync(dir, 0o777);
    const first = new SpillDirectory(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "spill.key")).mode & 0o777).toBe(0o600);
    expect(first.notices).toEqual([expect.stringMatching(/had mode 0777; tightened to 0700/)]);
    chmodSync(join(dir, "spill.key"), 0o644);
    const second = new SpillDirectory(dir);
    expect(statSync(join(dir, "spill.key")).mode & 0o777).toBe(0o600);
    expect(second.notices).toEqual([expect.stringMatching(/key .* had mode 0644; tightened to 0600/)]);
    // both see the same key: one process replays what another signed
    const record = records(1)[0] as DecisionRecord;
    expect(second.signedLine(record)).toBe(first.signedLine(record));
  });

  it("refuses a shared spill directory (sticky, like /tmp) and one owned by another user", () => {
    const shared = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    chmodSync(shared, 0o1777);
    expect(() => new SpillDirectory(shared)).toThrow(SpillDirectoryError);
    expect(() => new SpillDirectory(shared)).toThrow(/shared directory/);
    let foreign: string;
    if (process.getuid?.() === 0) {
      foreign = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
      chownSync(foreign, 65534, 65534);
    } else {
      foreign = "/"; // owned by root
    }
    expect(() => new SpillDirectory(foreign)).toThrow(/belongs to user/);
  });

  it("claims the files of processes that are gone, and leaves those of live processes alone", () => {
    const dir = mkdtempSync(join(tmpdir(), "verdict-audit-spill-"));
    writeFileSync(join(dir, "spill-111-aaaa.jsonl"), "");
    writeFileSync(join(dir, "replay-112-abab-000003.jsonl"), "");
    writeFileSync(join(dir, "spill-222-bbbb.jsonl"), "");
    const spill = new SpillDirectory(dir, 333, (pid) => pid === 222);
    const claimed = spill.claim();
    expect(claimed).toHaveLength(2);
    expect(claimed.every((path) => path.includes(`replay-333-${spill.instance}-`))).toBe(true);
    expect(existsSync(join(dir, "spill-222-bbbb.jsonl"))).toBe(true);
    // and nobody else can claim them twice
    expect(new SpillDirectory(dir, 444, (pid) => pid === 333 || pid === 222).claim()).toEqual([]);
  });
});

describe("retention", () => {
  it("excludes records past retention from queries and purges them", async () => {
    const now = Date.UTC(2026, 10, 24, 12);
    const trail = openTrail({ now: () => now, settings: { retention_days: 30 } });
    recordMany(trail.log, 3, () => ({ startedAt: now - 31 * DAY, requestId: "old" }));
    recordMany(trail.log, 2, () => ({ startedAt: now - 29 * DAY, requestId: "recent" }));
    await trail.log.flush();
    expect(await trail.decisions.countDocuments()).toBe(5);
    const { records } = await trail.store.query(parseAuditQuery({}, now), now);
    expect(records.map((r) => ("request_id" in r ? r.request_id : r.action))).toEqual(["recent", "recent"]);
    expect(await trail.store.purgeExpired(now)).toBe(3);
    expect(await trail.decisions.countDocuments()).toBe(2);
  });
});

describe("retention at start", () => {
  it("deletes records past retention when it starts, on servers that do not enforce TTL too", async () => {
    const now = Date.UTC(2026, 10, 24, 12);
    const database = uniqueDatabaseName("audit_purge");
    const masks = maskRulesFrom(POLICY_DATA);
    const old = buildRecord(decisionEvent({ startedAt: now - 10 * DAY }), { masks, retentionMs: DAY });
    const fresh = buildRecord(decisionEvent({ startedAt: now - 1_000 }), { masks, retentionMs: DAY });
    await client
      .db(database)
      .collection("decisions")
      .insertMany([old, fresh] as never[]);
    const trail = openTrail({ database, now: () => now });
    await vi.waitFor(async () => expect((await trail.decisions.find({}).toArray()).map((d) => String(d._id))).toEqual([fresh._id]));
  });
});

describe("queries", () => {
  const now = Date.now();
  let trail: Trail;

  beforeAll(async () => {
    trail = openTrail();
    const alice = principal({ subject: "alice", clientId: "agent-1" });
    const bob = principal({ subject: "bob", clientId: "agent-2", actors: [{ subject: "planner", clientId: "agent-0" }] });
    recordMany(trail.log, 4, (i) => ({ principal: alice, startedAt: now - i * 60_000, action: "invoices:read" }));
    recordMany(trail.log, 3, (i) => ({
      principal: alice,
      startedAt: now - 2 * 3_600_000 - i,
      action: "payments:transfer",
      decision: "DENY",
      reasons: ["limit_exceeded"],
    }));
    recordMany(trail.log, 2, () => ({
      principal: bob,
      startedAt: now - 5_000,
      action: "invoices:dispute",
      decision: "STEP_UP",
      reasons: ["step_up_required"],
      api: "billing",
    }));
    recordMany(trail.log, 1, () => ({ principal: null, startedAt: now - 1_000, decision: "DENY", reasons: ["token_expired"] }));
    // 25 records in the same millisecond, for paging
    recordMany(trail.log, 25, () => ({ principal: principal({ subject: "carol" }), startedAt: now - 10 * 60_000 }));
    // Events about agent-9, which made one decision
    recordMany(trail.log, 1, () => ({
      principal: principal({ subject: "dave", clientId: "agent-9" }),
      startedAt: now - 30_000,
      decision: "DENY",
      reasons: ["rate_limited"],
    }));
    trail.log.recordEvent(suspensionEvent({ target: { kind: "agent", client_id: "agent-9" } }));
    trail.log.recordEvent({ ...suspensionEvent({ target: { approval_id: "ap-1" } }), kind: "approval", action: "approved" });
    await trail.log.flush();
  });

  /** Decisions only (these tests are about decisions). */
  const query = async (request: Parameters<typeof parseAuditQuery>[0]) =>
    (await trail.store.query(parseAuditQuery(request, now), now)).records.flatMap((r) => (isEventRecord(r) ? [] : [publicRecord(r)]));
  const entries = async (request: Parameters<typeof parseAuditQuery>[0]) =>
    (await trail.store.query(parseAuditQuery(request, now), now)).records.map(publicEntry);

  it("shows audit events beside decisions, newest first, and selects them by kind", async () => {
    const aboutAgent = await entries({ clientId: "agent-9" });
    expect(aboutAgent.map((r) => ("event" in r ? `${r.event} ${r.action}` : r.decision))).toEqual(["suspension suspended", "DENY"]);
    expect((await entries({ kind: "suspension" })).map((r) => r.action)).toEqual(["suspended"]);
    expect((await entries({ kind: "approval" })).map((r) => r.action)).toEqual(["approved"]);
    const decisions = await entries({ kind: "decision", since: "1h" });
    expect(decisions.length).toBeGreaterThan(0);
    expect(decisions.every((r) => !("event" in r))).toBe(true);
    // A filter only decisions have leaves events out
    expect((await entries({ decision: "DENY", clientId: "agent-9" })).map((r) => r.action)).toEqual(["invoices:read"]);
    // One API's records are its decisions
    expect((await entries({ api: "billing" })).every((r) => !("event" in r))).toBe(true);
  });

  it("filters by subject, agent, action, decision, reason and API", async () => {
    expect((await query({ subject: "alice" })).length).toBe(7);
    expect((await query({ clientId: "agent-2" })).map((r) => r.subject)).toEqual(["bob", "bob"]);
    expect((await query({ action: "payments:transfer" })).length).toBe(3);
    expect((await query({ decision: "STEP_UP" })).map((r) => r.actors)).toEqual([
      [{ subject: "planner", client_id: "agent-0" }],
      [{ subject: "planner", client_id: "agent-0" }],
    ]);
    expect((await query({ reason: "token_expired" })).map((r) => r.subject)).toEqual([undefined]);
    expect((await query({ api: "billing" })).length).toBe(2);
    expect((await query({ subject: "alice", decision: "DENY", reason: "limit_exceeded" })).length).toBe(3);
    expect(await query({ subject: "alice", reason: "step_up_required" })).toEqual([]);
  });

  it("filters by time range, newest first", async () => {
    const lastHour = await query({ subject: "alice", since: "1h" });
    expect(lastHour.map((r) => r.action)).toEqual(["invoices:read", "invoices:read", "invoices:read", "invoices:read"]);
    expect(lastHour.map((r) => r.time)).toEqual([...lastHour.map((r) => r.time)].sort().reverse());
    expect((await query({ subject: "alice", until: "1h" })).map((r) => r.action)).toEqual(["payments:transfer", "payments:transfer", "payments:transfer"]);
  });

  it("pages through records of the same millisecond without repeating or skipping one", async () => {
    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const page = await trail.store.query(parseAuditQuery({ subject: "carol", limit: 7, ...(pageToken ? { pageToken } : {}) }, now), now);
      seen.push(...page.records.map((r) => r._id));
      pageToken = page.nextPageToken;
      pages += 1;
    } while (pageToken && pages < 10);
    expect(pages).toBe(4);
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
  });
});

function suspensionEvent(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    kind: "suspension",
    action: "suspended",
    actor: { via: "grpc", api: "ops-api", subject: "oncall@example.com" },
    target: { kind: "agent", client_id: "agent-7" },
    details: { seconds: 3600 },
    ...overrides,
  };
}
