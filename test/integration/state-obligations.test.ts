// Obligations, state queries and release against a real MongoDB-wire server.
import { randomUUID } from "node:crypto";
import type { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storageKey, type StateQuery, type WindowSpec } from "../../src/contract/index.js";
import { applyObligations, defaultObligations, releaseDecision, type OnceRequest, type RateRequest, type ReserveRequest } from "../../src/obligations/index.js";
import { InvalidExpiryError } from "../../src/state/index.js";
import { connectTestClient } from "../support/mongo.js";
import { openTestState, type TestState } from "../support/state.js";

let store: TestState;
let client: MongoClient;
const commands: string[] = [];
const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const DAY: WindowSpec = { kind: "calendar", unit: "day" };
const HOUR_SLIDING: WindowSpec = { kind: "sliding", seconds: 3600 };

beforeAll(async () => {
  store = await openTestState({ name: "obligations", timeoutMs: 10_000, onCommand: (name) => commands.push(name) });
  client = await connectTestClient();
});
afterAll(async () => {
  await store.close();
  await client.close();
});

/** The raw collections, read with the test's own client to see what was stored. */
const raw = (name: string) => client.db(store.database.name).collection(name);
const readState = async (queries: StateQuery[], nowMs: number) => (await store.counters.read([queries], nowMs))[0] ?? {};

const fail = { effect: "deny" as const };
const reserve = (key: string[], amount: number, limit: number, window: WindowSpec = DAY): ReserveRequest => ({
  type: "reserve",
  key,
  amount,
  limit,
  window,
  reason: { code: "limit_exceeded", message: "over" },
  onFailure: fail,
});
const rate = (key: string[], limit: number, seconds = 60): RateRequest => ({
  type: "rate",
  key,
  limit,
  window: { kind: "sliding", seconds },
  reason: { code: "rate_limited", message: "slow down" },
  onFailure: fail,
});
const once = (key: string[], expiresAt: number): OnceRequest => ({
  type: "once",
  key,
  expiresAt,
  reason: { code: "token_replayed", message: "used" },
  onFailure: fail,
});

function apply(requests: (ReserveRequest | RateRequest | OnceRequest)[], nowMs = T0, decisionId = randomUUID(), api = "invoices-api") {
  return applyObligations(defaultObligations, store, requests, { nowMs, decisionId, api }).then((outcome) => ({ ...outcome, decisionId }));
}
const release = (decisionId: string, api: string, now: Date) => releaseDecision(defaultObligations, store, decisionId, api, now);

describe("sliding-window reserve", () => {
  it("is exact under concurrency: 50 reservations of 100 under 300 give exactly 3", async () => {
    const key = [randomUUID()];
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => apply([reserve(key, 100, 300, HOUR_SLIDING)])));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(3);
  });

  it("frees what left the window, and only that", async () => {
    const key = [randomUUID()];
    expect((await apply([reserve(key, 200, 300, HOUR_SLIDING)], T0)).ok).toBe(true);
    expect((await apply([reserve(key, 100, 300, HOUR_SLIDING)], T0 + 30 * 60_000)).ok).toBe(true);
    expect((await apply([reserve(key, 1, 300, HOUR_SLIDING)], T0 + 59 * 60_000)).ok).toBe(false);
    // an hour after the first reservation it has left the window; the second has not
    const later = await apply([reserve(key, 200, 300, HOUR_SLIDING)], T0 + 60 * 60_000 + 1);
    expect(later).toMatchObject({ ok: true, applied: [{ total: 300 }] });
    expect((await apply([reserve(key, 1, 300, HOUR_SLIDING)], T0 + 60 * 60_000 + 2)).ok).toBe(false);
  });

  it("reports the total in the window after the reservation", async () => {
    const key = [randomUUID()];
    await apply([reserve(key, 120, 300, HOUR_SLIDING)], T0);
    expect(await apply([reserve(key, 30, 300, HOUR_SLIDING)], T0 + 1000)).toMatchObject({
      ok: true,
      applied: [{ type: "reserve", total: 150, window: "sliding:3600" }],
    });
  });
});

describe("rate", () => {
  it("allows exactly 50 of 80 concurrent requests under 50 per minute", async () => {
    const key = ["agent", randomUUID()];
    const outcomes = await Promise.all(Array.from({ length: 80 }, (_, i) => apply([rate(key, 50)], T0 + i)));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(50);
    expect(outcomes.find((o) => !o.ok)).toMatchObject({ ok: false, reason: { code: "rate_limited" } });
  });

  it("allows again once the window has moved on", async () => {
    const key = ["agent", randomUUID()];
    for (let i = 0; i < 3; i++) expect((await apply([rate(key, 3)], T0 + i * 1000)).ok).toBe(true);
    expect((await apply([rate(key, 3)], T0 + 59_000)).ok).toBe(false);
    expect((await apply([rate(key, 3)], T0 + 60_001)).ok).toBe(true);
  });
});

describe("once", () => {
  it("lets exactly one of 100 concurrent uses of one key through", async () => {
    const key = ["jti", randomUUID()];
    const outcomes = await Promise.all(Array.from({ length: 100 }, () => apply([once(key, T0 / 1000 + 300)])));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
    expect(outcomes.find((o) => !o.ok)).toMatchObject({ reason: { code: "token_replayed" } });
  });

  it("may be used again after it expired, even if no TTL monitor removed it", async () => {
    const key = ["jti", randomUUID()];
    expect((await apply([once(key, T0 / 1000 + 10)], T0)).ok).toBe(true);
    expect((await apply([once(key, T0 / 1000 + 10)], T0 + 5_000)).ok).toBe(false);
    expect((await apply([once(key, T0 / 1000 + 100)], T0 + 11_000)).ok).toBe(true);
  });

  it("refuses an expiry of 1e300 (no valid time) and stores nothing, so the key is never taken over as a 1970 expiry", async () => {
    const key = ["jti", randomUUID()];
    const user = ["user", randomUUID()];
    for (let use = 0; use < 2; use++) {
      const outcome = await apply([reserve(user, 10, 1000), once(key, 1e300)]);
      expect(outcome).toMatchObject({ ok: false, reason: { code: "policy_error" } });
    }
    expect(await raw("once_keys").countDocuments({ _id: storageKey(["once", ...key, ""]) as never })).toBe(0);
    expect(await raw("once_keys").countDocuments({ expiresAt: { $lt: new Date(86_400_000) } })).toBe(0);
    // the reservation made before it was given back
    expect(await readState([{ name: "spent", type: "counter", key: user, window: DAY }], T0)).toEqual({ spent: 0 });
  });

  it("refuses an expiry more than 400 days away, and one that is not a time, in the replay memory too", async () => {
    expect((await apply([once(["jti", randomUUID()], T0 / 1000 + 401 * 86_400)])).ok).toBe(false);
    await expect(store.once.consume(`dpop/${randomUUID()}`, new Date(Number.NaN), new Date(T0), randomUUID())).rejects.toBeInstanceOf(InvalidExpiryError);
    await expect(store.once.consume(`dpop/${randomUUID()}`, new Date(0), new Date(T0), randomUUID())).rejects.toBeInstanceOf(InvalidExpiryError);
  });
});

describe("several obligations of one decision", () => {
  it("hold together or not at all", async () => {
    const user = ["user", randomUUID()];
    const jti = ["jti", randomUUID()];
    const agent = ["agent", randomUUID()];
    expect((await apply([reserve(agent, 450, 500)])).ok).toBe(true);
    // the user's reservation and the jti succeed, the agent's limit does not: all are undone
    const outcome = await apply([reserve(user, 100, 1000), once(jti, T0 / 1000 + 300), reserve(agent, 100, 500)]);
    expect(outcome).toMatchObject({ ok: false, reason: { code: "limit_exceeded" } });
    expect(await readState([{ name: "u", type: "counter", key: user, window: DAY }], T0)).toEqual({ u: 0 });
    expect((await apply([once(jti, T0 / 1000 + 300)])).ok).toBe(true);
  });
});

describe("release", () => {
  it("gives back a decision's reservations, rate count and key, once", async () => {
    const user = ["user", randomUUID()];
    const agent = ["agent", randomUUID()];
    const jti = ["jti", randomUUID()];
    const first = await apply([reserve(user, 1000, 1000), reserve(agent, 300, 300, HOUR_SLIDING), rate(agent, 1), once(jti, T0 / 1000 + 300)]);
    expect(first.ok).toBe(true);
    expect((await apply([reserve(user, 1, 1000)])).ok).toBe(false);

    const released = await release(first.decisionId, "invoices-api", new Date(T0));
    expect(released.status).toBe("released");
    expect(released.released.map((r) => r.type)).toEqual(["reserve", "reserve", "rate", "once"]);
    expect((await apply([reserve(user, 1000, 1000), reserve(agent, 300, 300, HOUR_SLIDING), rate(agent, 1), once(jti, T0 / 1000 + 300)])).ok).toBe(true);

    const again = await release(first.decisionId, "invoices-api", new Date(T0));
    expect(again).toEqual({ status: "already_released", released: [] });
    expect((await apply([reserve(user, 1, 1000)])).ok).toBe(false); // the second release gave nothing back
  });

  it("happens once even when released concurrently", async () => {
    const user = ["user", randomUUID()];
    const first = await apply([reserve(user, 600, 1000)]);
    await apply([reserve(user, 400, 1000)]);
    const results = await Promise.all(Array.from({ length: 10 }, () => release(first.decisionId, "invoices-api", new Date(T0))));
    expect(results.filter((r) => r.status === "released")).toHaveLength(1);
    expect(await readState([{ name: "spent", type: "counter", key: user, window: DAY }], T0)).toEqual({ spent: 400 });
  });

  it("undoes a decision whose ledger was written before entries were generic ({undo: {type, display, ...}})", async () => {
    const user = ["legacy", randomUUID()];
    const first = await apply([reserve(user, 700, 1000)]);
    const ledger = raw("obligation_ledger");
    const doc = await ledger.findOne({ _id: first.decisionId as never });
    const [entry] = (doc?.["entries"] ?? []) as { type: string; undo: Record<string, unknown>; display: Record<string, unknown> }[];
    if (!entry) throw new Error("no ledger entry");
    await ledger.updateOne(
      { _id: first.decisionId as never },
      { $set: { entries: [{ undo: { type: entry.type, ...entry.undo, display: entry.display }, undone: false }] } },
    );

    const released = await release(first.decisionId, "invoices-api", new Date(T0));
    expect(released).toEqual({
      status: "released",
      released: [{ type: "reserve", key: user.map(encodeURIComponent).join("/"), amount: 700, limit: 1000, window: "day", total: 0 }],
    });
    expect(await readState([{ name: "u", type: "counter", key: user, window: DAY }], T0)).toEqual({ u: 0 });
    expect((await release(first.decisionId, "invoices-api", new Date(T0))).status).toBe("already_released");
  });

  it("is refused to another API and for unknown decisions", async () => {
    const first = await apply([reserve(["user", randomUUID()], 1, 10)]);
    expect((await release(first.decisionId, "payments-api", new Date(T0))).status).toBe("unknown_decision");
    expect((await release(randomUUID(), "invoices-api", new Date(T0))).status).toBe("unknown_decision");
  });
});

describe("state queries", () => {
  it("reads every counter a decision needs in one round trip", async () => {
    const a = ["q", randomUUID()];
    const b = ["q", randomUUID()];
    await apply([reserve(a, 70, 1000), reserve(b, 20, 1000, HOUR_SLIDING)]);
    const queries: StateQuery[] = [
      { name: "day", type: "counter", key: a, window: DAY },
      { name: "hour", type: "counter", key: b, window: HOUR_SLIDING },
      { name: "none", type: "counter", key: ["q", randomUUID()], window: DAY },
    ];
    commands.length = 0;
    expect(await readState(queries, T0 + 1000)).toEqual({ day: 70, hour: 20, none: 0 });
    expect(commands).toEqual(["find"]);
  });

  it("costs no database call when nothing is queried", async () => {
    commands.length = 0;
    expect(await readState([], T0)).toEqual({});
    expect(commands).toEqual([]);
  });

  it("honours expiry: yesterday's counter and entries that left a sliding window count zero", async () => {
    const a = ["exp", randomUUID()];
    await apply([reserve(a, 10, 100), reserve(a, 5, 100, HOUR_SLIDING)], T0);
    const queries: StateQuery[] = [
      { name: "day", type: "counter", key: a, window: DAY },
      { name: "hour", type: "counter", key: a, window: HOUR_SLIDING },
    ];
    expect(await readState(queries, T0 + 86_400_000)).toEqual({ day: 0, hour: 0 });
  });
});

describe("keys from untrusted values", () => {
  it("stores operator-looking and dotted parts as plain values", async () => {
    const parts = ['{"$gt":""}', "$where", "a.b.c", "x/y"];
    expect((await apply([reserve(parts, 1, 1)])).ok).toBe(true);
    expect((await apply([reserve(parts, 1, 1)])).ok).toBe(false);
    // the same characters split differently are another counter
    expect((await apply([reserve(['{"$gt":""}', "$where", "a.b.c", "x", "y"], 1, 1)])).ok).toBe(true);
    const docs = await raw("counters")
      .find({ key: { $regex: "where" } })
      .toArray();
    expect(docs.every((doc) => !Object.keys(doc).some((field) => field.startsWith("$") || field.includes(".")))).toBe(true);
  });
});

describe("writes that land after their deadline", () => {
  it("are undone, so a timed-out decision holds no budget, key or ledger entry", async () => {
    const hasty = await openTestState({ database: store.database.name, timeoutMs: 1 });
    const user = ["late", randomUUID()];
    const jti = ["jti", randomUUID()];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        applyObligations(defaultObligations, hasty, [reserve(user, 10, 1000), reserve(user, 5, 1000, HOUR_SLIDING), once(jti, T0 / 1000 + 300)], {
          nowMs: T0,
          decisionId: randomUUID(),
          api: "invoices-api",
        }),
      ),
    );
    // with a 1 ms deadline nearly every call fails closed (a rare one may win the race)
    const allowed = outcomes.filter((o) => o.status === "fulfilled" && o.value.ok).length;
    let state: Record<string, unknown> = {};
    for (let i = 0; i < 50; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      state = await readState(
        [
          { name: "day", type: "counter", key: user, window: DAY },
          { name: "hour", type: "counter", key: user, window: HOUR_SLIDING },
        ],
        T0 + 1,
      );
      if (state["day"] === 10 * allowed && state["hour"] === 5 * allowed) break;
    }
    expect(state).toEqual({ day: 10 * allowed, hour: 5 * allowed });
    // the writes did land (the counter exists), and were given back
    const counter = await raw("counters").findOne({ key: user.map(encodeURIComponent).join("/"), window: { $regex: "^day:" } });
    expect(counter).toMatchObject({ total: 10 * allowed });
    expect(counter?.["ds"]).toHaveLength(allowed);
    expect(await raw("obligation_ledger").countDocuments({ api: "invoices-api", "entries.display.key": user.map(encodeURIComponent).join("/") })).toBe(allowed);
    await hasty.close();
  });
});

describe("housekeeping", () => {
  it("removes expired counters, keys and ledger entries, and nothing that is still live", async () => {
    const old = ["sweep", randomUUID()];
    const live = ["sweep", randomUUID()];
    await apply([reserve(old, 1, 10), once(old, T0 / 1000 + 60)], T0);
    await apply([reserve(live, 1, 10)], T0 + 3 * 86_400_000);
    await store.database.sweepExpired(new Date(T0 + 2 * 86_400_000 + 1));
    const counters = raw("counters");
    expect(await counters.countDocuments({ key: old.join("/") })).toBe(0);
    expect(await raw("once_keys").countDocuments({ _id: `once/${old.join("/")}/` as never })).toBe(0);
    expect(await counters.countDocuments({ key: live.join("/") })).toBe(1);
  });
});
