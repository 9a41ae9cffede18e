// reserve/unreserve against a real MongoDB-wire server.
import { randomUUID } from "node:crypto";
import type { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyObligations as apply, defaultObligations, type EnforcePorts, type ReserveRequest } from "../../src/obligations/index.js";
import { StateUnavailableError } from "../../src/state/index.js";
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
const applyObligations = (ports: EnforcePorts, requests: ReserveRequest[], context: { nowMs: number; decisionId: string; api: string }) =>
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

describe("an unreachable database", () => {
  it("fails with StateUnavailableError within the deadline", async () => {
    const down = await openTestState({ uri: "mongodb://127.0.0.1:1/?directConnection=true", database: "x", timeoutMs: 200, indexes: false });
    const started = Date.now();
    await expect(applyObligations(down, [reserveOf(["down"], 1, 10)], at(NOW))).rejects.toBeInstanceOf(StateUnavailableError);
    expect(Date.now() - started).toBeLessThan(5_000);
    await down.close();
  });
});
