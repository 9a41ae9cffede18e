// Windowed counters go by the database's clock, not the process's: a process whose
// Date.now is shifted (as a host clock that is off would shift it) measures the offset
// from the real server's hello/isMaster reply and buckets, reads and sweeps on the
// database's time (docs/state.md, "One clock: the database's").
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { WindowSpec } from "../../src/contract/index.js";
import { MongoClient } from "mongodb";
import { DatabaseClock } from "../../src/database/clock.js";
import { Database } from "../../src/database/index.js";
import {
  COUNTERS,
  CounterStore,
  CountersOnDatabaseTime,
  DEFAULT_STATE_TIMEOUT_MS,
  ONCE_KEYS,
  OnceStore,
  openState,
  StateCalls,
  StateUnavailableError,
  type State,
} from "../../src/state/index.js";
import { startDelayProxy } from "../support/delay-proxy.js";
import { captureLog, type CapturedLog } from "../support/log.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const realNow = Date.now.bind(Date);
/** Shifts this process's clock, as the e2e tests' preload shifts a Verdict's. */
function shiftClock(offsetMs: number): void {
  vi.spyOn(Date, "now").mockImplementation(() => realNow() + offsetMs);
}

let database: Database | undefined;
let captured: CapturedLog;

async function connected(name = uniqueDatabaseName("clock")): Promise<{ database: Database; state: State }> {
  captured = captureLog();
  database = Database.open({ uri: mongoUri(), database: name, log: captured.log, poolSize: 4 });
  const state = openState(database, { timeoutMs: DEFAULT_STATE_TIMEOUT_MS, log: captured.log });
  await database.ensureIndexes();
  database.connectInBackground();
  await database.whenReached();
  return { database, state };
}

beforeEach(() => vi.restoreAllMocks());
afterEach(async () => {
  vi.restoreAllMocks();
  await database?.close();
  database = undefined;
});

const holder = () => ({ decisionId: randomUUID(), api: "clock-api", index: 0 });
const messages = () => captured.lines().map((line) => line["msg"]);

describe("the database's clock", () => {
  it("is measured from the real server's reply when the process connects, whatever the process's clock says", async () => {
    shiftClock(8_000);
    const { database } = await connected();
    const measured = database.clock.measurement;
    expect(measured).toBeDefined();
    // The server runs on this machine's real clock: the process is 8 s ahead of it, within half a round trip.
    expect(Math.abs((measured?.offsetMs ?? 0) + 8_000)).toBeLessThanOrEqual((measured?.roundTripMs ?? 0) / 2 + 20);
    expect(Math.abs(database.clock.now() - realNow())).toBeLessThan(100);
  });

  it("puts a sliding window's amount in the bucket of the database's time, not the process's", async () => {
    shiftClock(8_000);
    const { database, state } = await connected();
    const key = ["clock", randomUUID()];
    const window: WindowSpec = { kind: "sliding", seconds: 10 };
    const before = Math.floor(realNow() / 1000);
    const reserved = await state.counters.reserve(key, window, 1, 3, { nowMs: Date.now(), holder: holder(), type: "reserve" });
    const after = Math.floor(realNow() / 1000);
    expect(reserved.ok).toBe(true);
    const doc = await database.collection(COUNTERS).findOne({ key: { $regex: key[1] as string } });
    const buckets = Object.keys(doc?.b ?? {}).map(Number);
    expect(buckets).toHaveLength(1);
    // Bucketed on this process's (shifted) clock it would be 8 s later.
    expect([before, after]).toContain(buckets[0]);
    // Read back at the process's time, it counts.
    const [read] = await state.counters.read([[{ name: "n", type: "counter", key, window }]], Date.now());
    expect(read).toEqual({ n: 1 });
  });

  it("a process 8 s ahead still counts a live bucket another process wrote, and a refusal's retry time is on the process's clock", async () => {
    const { database, state } = await connected();
    const key = ["clock", randomUUID()];
    const window: WindowSpec = { kind: "sliding", seconds: 10 };
    for (let i = 0; i < 3; i++) expect((await state.counters.reserve(key, window, 1, 3, { nowMs: Date.now(), holder: holder(), type: "rate" })).ok).toBe(true);
    await database.close();
    // The same database, from a process whose clock runs 8 s ahead: the three are still in the window.
    shiftClock(8_000);
    const ahead = await connected(database.name);
    const nowMs = Date.now();
    const refused = await ahead.state.counters.reserve(key, window, 1, 3, { nowMs, holder: holder(), type: "rate" });
    expect(refused.ok).toBe(false);
    // They leave the window 10-11 s after they were written: on this process's clock, 8 s later than that.
    const fitsAtMs = refused.ok ? 0 : (refused.fitsAtMs ?? 0);
    expect(fitsAtMs - nowMs).toBeGreaterThan(8_000);
    expect(fitsAtMs - nowMs).toBeLessThanOrEqual(11_000);
  });

  it("sweeps on the database's clock: a process 11 minutes ahead does not delete a counter that is live", async () => {
    const { database: first } = await connected();
    const counters = first.collection(COUNTERS);
    await counters.insertMany([
      { _id: "live", key: "live", window: "sliding:10", total: 1, expiresAt: new Date(realNow() + 5 * 60_000) },
      { _id: "dead", key: "dead", window: "sliding:10", total: 1, expiresAt: new Date(realNow() - 1_000) },
    ]);
    await first.close();
    shiftClock(11 * 60_000);
    const { database } = await connected(first.name);
    database.startSweeping(50);
    const swept = database.collection(COUNTERS);
    await vi.waitFor(async () => expect(await swept.countDocuments({ _id: "dead" })).toBe(0), { timeout: 5_000, interval: 50 });
    expect(await swept.countDocuments({ _id: "live" })).toBe(1);
  });

  it("keeps a single-use key on the database's clock: a process 90 s behind it refuses a replay after the sweep ran", async () => {
    shiftClock(-90_000);
    const { database, state } = await connected();
    const keys = database.collection(ONCE_KEYS);
    // As the once obligation keeps a jti: until the token's exp (5 s from now, on this process's clock) plus 60 s of skew.
    const nowMs = Date.now();
    const keptUntil = new Date(nowMs + 65_000);
    const shown = { type: "once", key: "jti/t1", amount: 0, limit: 0, window: "" };
    const id = `once/${randomUUID()}`;
    expect(await state.once.consume(id, keptUntil, new Date(nowMs), holder(), shown)).toBeDefined();
    // The sweep deletes what is past on the database's clock: a canary already past shows when it has run.
    await keys.insertOne({ _id: "canary", expiresAt: new Date(realNow() - 1_000) });
    database.startSweeping(50);
    await vi.waitFor(async () => expect(await keys.countDocuments({ _id: "canary" })).toBe(0), { timeout: 5_000, interval: 50 });
    // Kept on the database's clock (the process's time plus the offset): until 2026-12-07 it was kept until 65 s on
    // the process's clock, 25 s ago on the database's, and swept, and the replay below, of a token this process still
    // accepts, was taken for a first use.
    const kept = await keys.findOne({ _id: id });
    expect(Math.abs((kept?.expiresAt.getTime() ?? 0) - (realNow() + 65_000))).toBeLessThan(2_000);
    expect(await state.once.consume(id, keptUntil, new Date(Date.now()), holder(), shown)).toBeUndefined();
    expect(await state.once.useOnce(`dpop/${randomUUID()}`, new Date(Date.now() + 60_000), new Date(Date.now()))).toBe(true);
  });

  it("refuses single-use keys, state_unavailable and nothing written, while the database's clock cannot be measured", async () => {
    const { database } = await connected();
    const unmeasurable = { measuredOffsetMs: () => undefined, measure: () => Promise.resolve(false) };
    const once = new OnceStore(database.collection(ONCE_KEYS), new StateCalls(DEFAULT_STATE_TIMEOUT_MS, captured.log), unmeasurable);
    const id = `once/${randomUUID()}`;
    const shown = { type: "once", key: "jti/t2", amount: 0, limit: 0, window: "" };
    await expect(once.consume(id, new Date(Date.now() + 60_000), new Date(), holder(), shown)).rejects.toThrow(StateUnavailableError);
    await expect(once.useOnce(id, new Date(Date.now() + 60_000), new Date())).rejects.toThrow(StateUnavailableError);
    expect(await database.collection(ONCE_KEYS).countDocuments({ _id: id })).toBe(0);
  });

  it("warns once when the process's clock is more than 1 s from the database's, not at every measurement", async () => {
    shiftClock(8_000);
    const { database } = await connected();
    expect(await database.clock.measure()).toBe(true);
    expect(await database.clock.measure()).toBe(true);
    const warnings = captured.lines().filter((line) => line["level"] === "warn" || line["level"] === 40);
    expect(warnings.map((line) => line["msg"])).toEqual([
      "this process's clock is more than 1 s from the database's: windowed counters use the database's; fix the hosts' time synchronization",
    ]);
    // Back within 1 s (the host's clock fixed): said once, and no new warning.
    vi.restoreAllMocks();
    expect(await database.clock.measure()).toBe(true);
    expect(await database.clock.measure()).toBe(true);
    expect(messages().filter((msg) => msg === "this process's clock is within 1 s of the database's again")).toHaveLength(1);
  });

  it("is measured by the first counter call of a process that has not measured it yet, whatever the process's clock says", async () => {
    captured = captureLog();
    database = Database.open({ uri: mongoUri(), database: uniqueDatabaseName("clock"), log: captured.log, poolSize: 2 });
    const state = openState(database, { timeoutMs: DEFAULT_STATE_TIMEOUT_MS, log: captured.log });
    shiftClock(8_000);
    expect(database.clock.measuredOffsetMs()).toBeUndefined();
    const window: WindowSpec = { kind: "sliding", seconds: 10 };
    expect((await state.counters.reserve(["clock", randomUUID()], window, 1, 3, { nowMs: Date.now(), holder: holder(), type: "rate" })).ok).toBe(true);
    expect(Math.abs((database.clock.measuredOffsetMs() ?? 0) + 8_000)).toBeLessThan(100);
  });

  it("refuses windowed counters, state_unavailable and nothing written, while the database's clock cannot be measured", async () => {
    const { database } = await connected();
    const unmeasurable = { measuredOffsetMs: () => undefined, measure: () => Promise.resolve(false) };
    const counters = new CountersOnDatabaseTime(
      new CounterStore(database.collection(COUNTERS), new StateCalls(DEFAULT_STATE_TIMEOUT_MS, captured.log)),
      unmeasurable,
    );
    const key = ["clock", randomUUID()];
    const window: WindowSpec = { kind: "sliding", seconds: 10 };
    // until 2026-12-07 they went on this process's clock, where a host clock ahead or behind let a window allow more than its limit
    await expect(counters.reserve(key, window, 1, 3, { nowMs: Date.now(), holder: holder(), type: "rate" })).rejects.toThrow(StateUnavailableError);
    await expect(counters.read([[{ name: "n", type: "counter", key, window }]], Date.now())).rejects.toThrow(StateUnavailableError);
    expect(await database.collection(COUNTERS).countDocuments({ key: { $regex: key[1] as string } })).toBe(0);
  });

  it("abandons a round trip the server never answers soon after the measurement gave up on it, rather than holding its connection", async () => {
    const target = new URL(mongoUri());
    const proxy = await startDelayProxy({ host: target.hostname, port: Number(target.port) });
    const client = new MongoClient(`mongodb://${proxy.address}/?directConnection=true`, { monitorCommands: true });
    const ended: string[] = [];
    client.on("commandFailed", (event) => ended.push(`${event.commandName} failed`));
    client.on("commandSucceeded", (event) => ended.push(`${event.commandName} answered`));
    try {
      await client.connect();
      const clock = new DatabaseClock(() => client.db("clock"), { log: captureLog().log, deadlineMs: 100 });
      await expect.poll(() => clock.measure(), { timeout: 5_000 }).toBe(true); // a warm connection, and the command this server answers
      ended.length = 0;
      proxy.setDelay(60_000); // a server that stopped answering
      expect(await clock.measure()).toBe(false);
      // until 2026-12-07 the command waited for its answer as long as the connection lived
      await expect.poll(() => ended, { timeout: 5_000 }).toEqual([expect.stringMatching(/^(hello|isMaster) failed$/)]);
    } finally {
      await client.close(true).catch(() => {});
      await proxy.close();
    }
  });
});
