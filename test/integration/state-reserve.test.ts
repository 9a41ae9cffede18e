// reserve/unreserve against a real MongoDB-wire server.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObligationPorts } from "../../src/contract/index.js";
import { applyObligations as apply, defaultObligations, type ReserveRequest } from "../../src/obligations/index.js";
import { MongoClient, type CommandSucceededEvent } from "mongodb";
import { silentLogger } from "../../src/observability/index.js";
import { COUNTERS, CounterStore, EXPIRY_GRACE_MS, RELEASABLE, StateCalls, StateUnavailableError } from "../../src/state/index.js";
import { mongoUri } from "../support/mongo.js";
import { connectTestClient } from "../support/mongo.js";
import { openTestState, type TestState } from "../support/state.js";

let store: TestState;
let client: MongoClient;
const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);

beforeAll(async () => {
  store = await openTestState({ name: "state" });
  client = await connectTestClient();
});
afterAll(async () => {
  await store.close();
  await client.close();
});

const counters = () => client.db(store.database.name).collection("counters");
const applyObligations = (ports: ObligationPorts, requests: ReserveRequest[], context: { nowMs: number; decisionId: string; api: string }) =>
  apply(defaultObligations, ports, requests, context);

const reserveOf = (key: string[], amount: number, limit: number): ReserveRequest => ({
  type: "reserve",
  key,
  amount,
  limit,
  window: { kind: "calendar", unit: "day" },
  reason: { code: "limit_exceeded", message: "over" },
  onFailure: { effect: "deny" },
});
const at = (nowMs: number) => ({ nowMs, decisionId: randomUUID(), api: "invoices-api" });

describe("reserve", () => {
  it("allows up to the limit exactly and refuses one unit more", async () => {
    const key = ["edge", "user-1"];
    expect((await applyObligations(store, [reserveOf(key, 999, 1000)], at(NOW))).ok).toBe(true);
    expect((await applyObligations(store, [reserveOf(key, 1, 1000)], at(NOW))).ok).toBe(true);
    const over = await applyObligations(store, [reserveOf(key, 1, 1000)], at(NOW));
    expect(over).toMatchObject({ ok: false, reason: { code: "limit_exceeded" } });
  });

  it("keeps a counter EXPIRY_GRACE_MS past its window, so that a reservation still on its way finds it full, not gone", async () => {
    const key = ["grace", randomUUID()];
    expect((await applyObligations(store, [reserveOf(key, 1000, 1000)], at(NOW))).ok).toBe(true);
    const doc = await counters().findOne({ key: key.join("/") });
    expect(doc?.["expiresAt"]).toEqual(new Date(Date.UTC(2026, 10, 25) + EXPIRY_GRACE_MS));
    expect(EXPIRY_GRACE_MS).toBeGreaterThanOrEqual(5 * 60_000);
  });

  it("puts a sliding reservation that waited in its counter's lane in the bucket of its turn, not of when it was asked for", async () => {
    // The first turn's write answers 400 ms late: the second reservation waits for it in the lane.
    let delayed = false;
    const collection = client.db(store.database.name).collection(COUNTERS.name);
    const slow = new Proxy(collection, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (property === "findOneAndUpdate" && !delayed) {
          delayed = true;
          return async (...args: unknown[]) => {
            await new Promise((resolve) => setTimeout(resolve, 400));
            return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          };
        }
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const counters5 = new CounterStore(slow as unknown as ConstructorParameters<typeof CounterStore>[0], new StateCalls(5_000, silentLogger()));
    const key = ["lane-wait", randomUUID()];
    // 0.8 s into a second: 400 ms later is the next second's bucket (sliding:5 has buckets of 1 s)
    const asked = Math.floor(Date.now() / 1000) * 1000 + 800;
    const reserve = (nowMs: number) =>
      counters5.reserve(key, { kind: "sliding", seconds: 5 }, 1, 10, {
        nowMs,
        holder: { decisionId: randomUUID(), api: "invoices-api", index: 0 },
        type: "reserve",
      });
    const first = reserve(asked);
    const second = reserve(asked + 1);
    expect(await first).toMatchObject({ ok: true });
    expect(await second).toMatchObject({ ok: true });
    const doc = await counters().findOne({ key: key.join("/") });
    const buckets = (doc?.["h"] as { s: number }[]).map((h) => h.s);
    const second0 = Math.floor(asked / 1000);
    expect(buckets).toEqual([second0, second0 + 1]);
  });

  it("refuses a single amount above the limit without creating a counter", async () => {
    const outcome = await applyObligations(store, [reserveOf(["huge", "user-1"], 1001, 1000)], at(NOW));
    expect(outcome.ok).toBe(false);
    expect(await counters().countDocuments({ key: "huge/user-1" })).toBe(0);
  });

  it("gives exactly 10 of 50 concurrent reservations of 100 under 1000", async () => {
    const key = ["race", "user-1"];
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => applyObligations(store, [reserveOf(key, 100, 1000)], at(NOW))));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(10);
    const doc = await counters().findOne({ key: "race/user-1" });
    expect(doc?.["total"]).toBe(1000);
  });

  it("starts a fresh counter in the next calendar day", async () => {
    const key = ["days", "user-1"];
    expect((await applyObligations(store, [reserveOf(key, 1000, 1000)], at(NOW))).ok).toBe(true);
    expect((await applyObligations(store, [reserveOf(key, 1, 1000)], at(NOW))).ok).toBe(false);
    expect((await applyObligations(store, [reserveOf(key, 1, 1000)], at(NOW + 86_400_000))).ok).toBe(true);
  });

  it("gives back earlier reservations of a decision when a later one does not fit", async () => {
    const perUser = ["both", "user-1"];
    const perAgent = ["both", "agent-1"];
    expect((await applyObligations(store, [reserveOf(perAgent, 950, 1000)], at(NOW))).ok).toBe(true);
    const outcome = await applyObligations(store, [reserveOf(perUser, 100, 1000), reserveOf(perAgent, 100, 1000)], at(NOW));
    expect(outcome.ok).toBe(false);
    const userCounter = await counters().findOne({ key: "both/user-1" });
    expect(userCounter?.["total"]).toBe(0);
  });

  it("keeps key parts apart and never reads them as operators or paths", async () => {
    const injected = ['{"$gt": ""}', "a.b", "$where", "a/b"];
    const outcome = await applyObligations(store, [reserveOf(injected, 5, 10)], at(NOW));
    expect(outcome.ok).toBe(true);
    const doc = await counters().findOne({ key: injected.map(encodeURIComponent).join("/") });
    expect(doc?.["total"]).toBe(5);
    // a different split of the same characters is a different counter
    expect((await applyObligations(store, [reserveOf(['{"$gt": ""}', "a.b", "$where", "a", "b"], 10, 10)], at(NOW))).ok).toBe(true);
  });
});

describe("a busy daily counter", () => {
  it("keeps its document and each reservation's reply bounded, however many reservations it takes", async () => {
    const monitored = new MongoClient(mongoUri(), { monitorCommands: true });
    const replies: number[] = [];
    monitored.on("commandSucceeded", (event: CommandSucceededEvent) => {
      if (event.commandName === "findAndModify") replies.push(JSON.stringify(event.reply).length);
    });
    try {
      const ports = {
        ...store,
        counters: new CounterStore(monitored.db(store.database.name).collection(COUNTERS.name), new StateCalls(5_000, silentLogger())),
      };
      const key = ["busy-day", randomUUID()];
      const sizes: number[] = [];
      for (let round = 0; round < 10; round++) {
        await Promise.all(Array.from({ length: RELEASABLE }, () => applyObligations(ports, [reserveOf(key, 1, 1_000_000)], at(NOW))));
        const doc = await counters().findOne({ key: key.join("/") });
        sizes.push(JSON.stringify(doc).length);
        expect(doc?.["total"]).toBe((round + 1) * RELEASABLE);
        expect(doc?.["h"]).toHaveLength(RELEASABLE);
      }
      // ten times RELEASABLE reservations: the document no larger than after the first RELEASABLE
      expect(Math.max(...sizes)).toBeLessThanOrEqual((sizes[0] as number) + 64);
      // every reply is the total alone (and the _id), whatever the counter holds; concurrent reservations of one
      // counter go together, so there are fewer replies than reservations
      expect(replies.length).toBeGreaterThan(0);
      expect(replies.length).toBeLessThanOrEqual(10 * RELEASABLE);
      expect(Math.max(...replies)).toBeLessThan(300);
    } finally {
      await monitored.close();
    }
  });
});

describe("an unreachable database", () => {
  it("fails with StateUnavailableError within the deadline", async () => {
    const down = await openTestState({ uri: "mongodb://127.0.0.1:1/?directConnection=true", database: "x", timeoutMs: 200, indexes: false });
    const started = Date.now();
    await expect(applyObligations(down, [reserveOf(["down"], 1, 10)], at(NOW))).rejects.toBeInstanceOf(StateUnavailableError);
    expect(Date.now() - started).toBeLessThan(5_000);
    await down.close();
  });
});
