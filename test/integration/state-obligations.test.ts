// Obligations, state queries and release against a real MongoDB-wire server.
import { randomUUID } from "node:crypto";
import type { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { storageKey, type ObligationPorts, type StateQuery, type WindowSpec } from "../../src/contract/index.js";
import {
  applyBrakes,
  applyObligations,
  defaultObligations,
  releaseDecision,
  type OnceRequest,
  type RateRequest,
  type ReserveRequest,
  type SuspendRequest,
} from "../../src/obligations/index.js";
import { BUCKETS, DEAD_BUCKETS_KEPT, InvalidExpiryError, RELEASABLE } from "../../src/state/index.js";
import { connectTestClient } from "../support/mongo.js";
import { openTestState, type TestState } from "../support/state.js";

let store: TestState;
let client: MongoClient;
const commands: string[] = [];
const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const DAY: WindowSpec = { kind: "calendar", unit: "day" };
const HOUR_SLIDING: WindowSpec = { kind: "sliding", seconds: 3600 };

beforeAll(async () => {
  store = await openTestState({ name: "obligations", onCommand: (name) => commands.push(name) });
  client = await connectTestClient();
});
afterAll(async () => {
  await store.close();
  await client.close();
});

/** The raw collections, read with the test's own client to see what was stored. */
const raw = (name: string) => client.db(store.database.name).collection(name);
const readState = async (queries: StateQuery[], nowMs: number) => (await store.counters.read([queries], nowMs))[0] ?? {};
/** A sliding counter's buckets as stored: start (seconds since the epoch) -> amount. */
const bucketsOf = async (key: string[]) => ((await raw("counters").findOne({ key: key.join("/") }))?.["b"] ?? {}) as Record<string, number>;
/** Of those, the one-second buckets that have left a minute's window at `nowMs`. */
const deadBuckets = (buckets: Record<string, number>, nowMs: number) =>
  Object.keys(buckets).filter((start) => (Number(start) + 1) * 1000 <= nowMs - 60_000).length;
/** Waits for background work (a prune) to show: `check` passes within 2 s, or the test fails with its assertion. */
const shown = (check: () => Promise<void>) => vi.waitFor(check, { timeout: 2_000, interval: 10 });

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

/** A brake: suspend the agent once more than `after` decisions a minute carry it (no suspensions port here: it only counts). */
const brake = (key: string[], after: number): SuspendRequest => ({
  type: "suspend",
  key,
  target: "agent",
  seconds: 60,
  after: { limit: after, window: { kind: "sliding", seconds: 60 } },
  reason: { code: "principal_suspended", message: "braked" },
  onFailure: fail,
});

function apply(requests: (ReserveRequest | RateRequest | OnceRequest | SuspendRequest)[], nowMs = T0, decisionId = randomUUID(), api = "invoices-api") {
  return applyObligations(defaultObligations, store, requests, { nowMs, decisionId, api }).then((outcome) => ({ ...outcome, decisionId }));
}
const release = (decisionId: string, api: string) => releaseDecision(defaultObligations, store, decisionId, api);

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
    // an amount counts until its bucket (a sixtieth of the window: a minute) has left the window
    expect((await apply([reserve(key, 1, 300, HOUR_SLIDING)], T0 + 60 * 60_000 + 1)).ok).toBe(false);
    // an hour and a bucket after the first reservation it has left the window; the second has not
    const later = await apply([reserve(key, 200, 300, HOUR_SLIDING)], T0 + 61 * 60_000 + 1);
    expect(later).toMatchObject({ ok: true, applied: [{ total: 300 }] });
    expect((await apply([reserve(key, 1, 300, HOUR_SLIDING)], T0 + 61 * 60_000 + 2)).ok).toBe(false);
  });

  it("keeps one document of about BUCKETS buckets and RELEASABLE holders, whatever the number of reservations", async () => {
    const key = [randomUUID()];
    for (let i = 0; i < 300; i++) expect((await apply([rate(key, 1_000_000)], T0 + i * 1_000)).ok).toBe(true);
    const buckets = async () => Object.keys(await bucketsOf(key)).length;
    // Buckets that left the window are pruned in the background, one prune at a time: here each reservation is a
    // second later, so on a busy machine several buckets can die while one prune runs. A later reservation (at the
    // same moment, counted below) starts the next prune; the document comes down to its bound and stays there.
    let more = 0;
    // Far from its limit, a document keeps fewer than DEAD_BUCKETS_KEPT buckets that left the window.
    const bound = BUCKETS + DEAD_BUCKETS_KEPT + 2;
    while ((await buckets()) > bound && more < 20) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      if ((await buckets()) <= bound) break;
      expect((await apply([rate(key, 1_000_000)], T0 + 299_000)).ok).toBe(true);
      more += 1;
    }
    // 300 seconds of one a second: the buckets of the last minute (and the few that left it since the last prune),
    // and at most RELEASABLE holders, those of the buckets still kept (a pruned bucket's holders go with it)
    expect(await buckets()).toBeLessThanOrEqual(bound);
    const doc = await raw("counters").findOne({ key: key.join("/") });
    const holders = (doc?.["h"] ?? []) as { s: number }[];
    expect(holders.length).toBeGreaterThan(60);
    expect(holders.length).toBeLessThanOrEqual(RELEASABLE);
    expect(holders.every((held) => String(held.s) in ((doc?.["b"] ?? {}) as Record<string, number>))).toBe(true);
    // the last minute's 60 (and any made at its last second above), and the one made exactly a minute ago, whose one-second bucket has not yet left it
    expect(await readState([{ name: "n", type: "counter", key, window: { kind: "sliding", seconds: 60 } }], T0 + 299_000)).toEqual({ n: 61 + more });
  });

  it("prunes a counter far from its limit every DEAD_BUCKETS_KEPT buckets, from the reservations' replies", async () => {
    const key = [randomUUID()];
    await new Promise((resolve) => setTimeout(resolve, 100)); // the test before's last prune, if any, done
    commands.length = 0;
    // two minutes of one a second: from the 62nd on, one more bucket has left the window at each
    for (let i = 0; i < 120; i++) {
      expect((await apply([rate(key, 1_000_000)], T0 + i * 1_000)).ok).toBe(true);
      await shown(async () => expect(deadBuckets(await bucketsOf(key), T0 + i * 1_000)).toBeLessThan(DEAD_BUCKETS_KEPT));
    }
    expect(commands.filter((name) => name === "findAndModify")).toHaveLength(120);
    // no reads: the buckets to prune come from the reservations' replies
    expect(commands.filter((name) => name === "find")).toHaveLength(0);
    // 59 buckets left the window, pruned DEAD_BUCKETS_KEPT at a time (not one prune per reservation)
    expect(commands.filter((name) => name === "update")).toHaveLength(Math.floor(59 / DEAD_BUCKETS_KEPT));
    expect(Object.keys(await bucketsOf(key)).length).toBeLessThanOrEqual(BUCKETS + DEAD_BUCKETS_KEPT);
    expect(await readState([{ name: "n", type: "counter", key, window: { kind: "sliding", seconds: 60 } }], T0 + 119_000)).toEqual({ n: 61 });
  });

  it("prunes a counter past half its limit as soon as a bucket leaves the window", async () => {
    const key = [randomUUID()];
    // one a second under 100 a minute: past half the limit from the 51st on
    for (let i = 0; i < 90; i++) {
      expect((await apply([rate(key, 100)], T0 + i * 1_000)).ok).toBe(true);
      if (i >= 61) await shown(async () => expect(deadBuckets(await bucketsOf(key), T0 + i * 1_000)).toBe(0));
    }
    expect(Object.keys(await bucketsOf(key)).length).toBe(BUCKETS + 1);
  });

  it("takes over a document written before buckets: its live entries counted, its dead ones let go", async () => {
    const key = [randomUUID()];
    const id = storageKey([...key, "sliding:60"]);
    await raw("counters").insertOne({
      _id: id as never,
      key: key.join("/"),
      window: "sliding:60",
      total: 8,
      entries: [
        { t: T0 - 120_000, a: 5, d: randomUUID() },
        { t: T0 - 10_000, a: 3, d: randomUUID() },
      ],
      pv: 0,
      expiresAt: new Date(T0 + 50_000),
    });
    expect(await apply([reserve(key, 3, 10, { kind: "sliding", seconds: 60 })], T0)).toMatchObject({ ok: true, applied: [{ total: 6 }] });
    expect(await readState([{ name: "n", type: "counter", key, window: { kind: "sliding", seconds: 60 } }], T0)).toEqual({ n: 6 });
    expect((await apply([reserve(key, 5, 10, { kind: "sliding", seconds: 60 })], T0)).ok).toBe(false);
    const doc = await raw("counters").findOne({ _id: id as never });
    expect(doc).not.toHaveProperty("entries");
    expect(doc).toMatchObject({ total: 6 });
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
    // counted until its one-second bucket has left the minute
    expect((await apply([rate(key, 3)], T0 + 60_500)).ok).toBe(false);
    expect((await apply([rate(key, 3)], T0 + 61_001)).ok).toBe(true);
  });

  it("says when its sliding window frees room: when its oldest bucket leaves it, and not sooner", async () => {
    const key = ["agent", randomUUID()];
    for (const at of [T0 + 400, T0 + 10_000, T0 + 20_000]) expect((await apply([rate(key, 3)], at)).ok).toBe(true);
    // T0's one-second bucket counts until its end has left the minute
    expect(await apply([rate(key, 3)], T0 + 30_000)).toMatchObject({ ok: false, reason: { code: "rate_limited" }, retryAtMs: T0 + 61_000 });
    expect(await apply([rate(key, 3)], T0 + 60_999)).toMatchObject({ ok: false, retryAtMs: T0 + 61_000 });
    expect((await apply([rate(key, 3)], T0 + 61_000)).ok).toBe(true);
  });

  it("says when a calendar window frees room: at its end", async () => {
    const key = ["agent", randomUUID()];
    const hourly = { ...rate(key, 1), window: { kind: "calendar" as const, unit: "hour" as const } };
    expect((await apply([hourly], T0 + 5 * 60_000)).ok).toBe(true);
    expect(await apply([hourly], T0 + 25 * 60_000)).toMatchObject({ ok: false, retryAtMs: T0 + 3_600_000 });
  });

  it("counts what the same turn took when it says when concurrent refusals would fit", async () => {
    const key = ["agent", randomUUID()];
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => apply([rate(key, 3)], T0 + 1_000)));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(3);
    // all three counted in T0 + 1 s's bucket, which leaves the minute a second after it ends
    for (const refused of outcomes.filter((o) => !o.ok)) expect(refused).toMatchObject({ retryAtMs: T0 + 62_000 });
  });

  it("is the only type whose refusal says when to retry: a budget is the policy's limit, not a pace", async () => {
    const key = [randomUUID()];
    expect((await apply([reserve(key, 300, 300, HOUR_SLIDING)], T0)).ok).toBe(true);
    const refused = await apply([reserve(key, 1, 300, HOUR_SLIDING)], T0 + 60_000);
    expect(refused.ok).toBe(false);
    expect("retryAtMs" in refused).toBe(false);
  });

  it("in the store, says when as many of a sliding window's oldest amounts have left it as the refused amount needs", async () => {
    const key = [randomUUID()];
    const window: WindowSpec = { kind: "sliding", seconds: 60 };
    const reserveAt = (amount: number, nowMs: number) =>
      store.counters.reserve(key, window, amount, 6, { nowMs, holder: { decisionId: randomUUID(), api: "invoices-api", index: 0 }, type: "reserve" });
    for (const at of [T0, T0 + 10_000, T0 + 20_000]) expect((await reserveAt(2, at)).ok).toBe(true);
    // 3 more need two of the three amounts of 2 gone: T0 + 10 s's bucket leaves the minute at T0 + 71 s
    expect(await reserveAt(3, T0 + 30_000)).toEqual({ ok: false, fitsAtMs: T0 + 71_000 });
    expect(await reserveAt(2, T0 + 30_000)).toEqual({ ok: false, fitsAtMs: T0 + 61_000 });
    // past the limit it never fits, and says none
    expect(await reserveAt(7, T0 + 30_000)).toEqual({ ok: false });
  });
});

describe("once", () => {
  it("lets exactly one of 100 concurrent uses of one key through", async () => {
    const key = ["jti", randomUUID()];
    const outcomes = await Promise.all(Array.from({ length: 100 }, () => apply([once(key, T0 / 1000 + 300)])));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
    expect(outcomes.find((o) => !o.ok)).toMatchObject({ reason: { code: "token_replayed" } });
  });

  it("may be used again after it expired and the largest clock skew passed, even if no TTL monitor removed it", async () => {
    const key = ["jti", randomUUID()];
    expect((await apply([once(key, T0 / 1000 + 10)], T0)).ok).toBe(true);
    expect((await apply([once(key, T0 / 1000 + 10)], T0 + 5_000)).ok).toBe(false);
    // a token is still accepted up to clock_skew_seconds (at most 60) after its exp: its key is kept as long
    expect((await apply([once(key, T0 / 1000 + 10)], T0 + 69_000)).ok).toBe(false);
    expect((await apply([once(key, T0 / 1000 + 100)], T0 + 71_000)).ok).toBe(true);
  });

  it("refuses every replay of a key first used after its expires_at (a token in its clock-skew grace)", async () => {
    const key = ["jti", randomUUID()];
    const exp = T0 / 1000;
    expect((await apply([once(key, exp)], T0 + 10_000)).ok).toBe(true);
    for (const at of [T0 + 10_000, T0 + 30_000, T0 + 60_000])
      expect(await apply([once(key, exp)], at)).toMatchObject({ ok: false, reason: { code: "token_replayed" } });
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
    await expect(store.once.useOnce(`dpop/${randomUUID()}`, new Date(Number.NaN), new Date(T0))).rejects.toBeInstanceOf(InvalidExpiryError);
    await expect(store.once.useOnce(`dpop/${randomUUID()}`, new Date(0), new Date(T0))).rejects.toBeInstanceOf(InvalidExpiryError);
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

  it("are applied in the policy's order: one that cannot be met is the last tried", async () => {
    const user = ["user", randomUUID()];
    const jti = ["jti", randomUUID()];
    const agent = ["agent", randomUUID()];
    expect((await apply([reserve(agent, 450, 500)])).ok).toBe(true);
    const outcome = await apply([reserve(agent, 100, 500), reserve(user, 100, 1000), once(jti, T0 / 1000 + 300)]);
    expect(outcome).toMatchObject({ ok: false, reason: { code: "limit_exceeded" } });
    // The agent's refusal ended it: the user's counter and the key were never written (no document, nothing to give back).
    expect(await raw("counters").findOne({ key: user.join("/") })).toBeNull();
    expect(await raw("once_keys").countDocuments({ d: outcome.decisionId })).toBe(0);
    expect((await apply([once(jti, T0 / 1000 + 300)])).ok).toBe(true);
  });

  it("allow exactly the binding limit under concurrency, every other decision giving back what it took", async () => {
    // per user 1000, per agent 500, 40 decisions of 100 at once: the agent's limit binds
    const user = ["user", randomUUID()];
    const agent = ["agent", randomUUID()];
    for (const order of [
      [reserve(user, 100, 1000), reserve(agent, 100, 500)],
      [reserve(agent, 100, 500), reserve(user, 100, 1000)],
    ]) {
      const day = T0 + (order[0]?.key === user ? 0 : 86_400_000);
      const outcomes = await Promise.all(Array.from({ length: 40 }, () => apply(order, day)));
      expect(outcomes.filter((o) => o.ok)).toHaveLength(5);
      const state = await readState(
        [
          { name: "u", type: "counter", key: user, window: DAY },
          { name: "a", type: "counter", key: agent, window: DAY },
        ],
        day,
      );
      expect(state).toEqual({ u: 500, a: 500 });
    }
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

    const released = await release(first.decisionId, "invoices-api");
    expect(released.status).toBe("released");
    expect(released.released.map((r) => r.type)).toEqual(["reserve", "reserve", "rate", "once"]);
    expect((await apply([reserve(user, 1000, 1000), reserve(agent, 300, 300, HOUR_SLIDING), rate(agent, 1), once(jti, T0 / 1000 + 300)])).ok).toBe(true);

    const again = await release(first.decisionId, "invoices-api");
    expect(again).toEqual({ status: "already_released", released: [] });
    expect((await apply([reserve(user, 1, 1000)])).ok).toBe(false); // the second release gave nothing back
  });

  it("gives nothing back from a sliding bucket a late reservation made again after it was pruned: never over the limit", async () => {
    const key = ["late-bucket", randomUUID()];
    // 2 a minute, in one-second buckets; two decisions fill the bucket of T0
    const [d1, d2] = [await apply([rate(key, 2)], T0 + 200), await apply([rate(key, 2)], T0 + 200)];
    expect([d1.ok, d2.ok]).toEqual([true, true]);
    // 62 s later the bucket of T0 has left the window: the next one prunes it and fits
    expect((await apply([rate(key, 2)], T0 + 62_100)).ok).toBe(true);
    // a decision made at T0 + 0.9 s whose obligation is applied only now writes the bucket of T0 again
    expect((await apply([rate(key, 2)], T0 + 900)).ok).toBe(true);
    // the first two are released: their bucket is gone, whatever has its start now
    await release(d1.decisionId, "invoices-api");
    await release(d2.decisionId, "invoices-api");
    expect(Object.values(await bucketsOf(key)).every((amount) => amount >= 0)).toBe(true);
    // one more fits the minute at T0 + 62.5 s (the decision at T0 + 62.1 s is the other), not two
    const outcomes = await Promise.all([apply([rate(key, 2)], T0 + 62_500), apply([rate(key, 2)], T0 + 62_500)]);
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
  });

  it("happens once even when released concurrently", async () => {
    const user = ["user", randomUUID()];
    const first = await apply([reserve(user, 600, 1000)]);
    await apply([reserve(user, 400, 1000)]);
    const results = await Promise.all(Array.from({ length: 10 }, () => release(first.decisionId, "invoices-api")));
    expect(results.filter((r) => r.status === "released")).toHaveLength(1);
    expect(await readState([{ name: "spent", type: "counter", key: user, window: DAY }], T0)).toEqual({ spent: 400 });
  });

  it("gives back exactly once when an attempt's give-back lands after its deadline, and a retry says so truthfully (issue 12)", async () => {
    const hasty = await openTestState({ database: store.database.name, timeoutMs: 1 });
    try {
      // Release finds the holdings in time, then gives back under a 1 ms deadline: the write lands late.
      const lateGiving: ObligationPorts = {
        counters: {
          reserve: store.counters.reserve.bind(store.counters),
          holdings: store.counters.holdings.bind(store.counters),
          read: store.counters.read.bind(store.counters),
          give: hasty.counters.give.bind(hasty.counters),
        },
        once: store.once,
      };
      for (let round = 0; round < 5; round++) {
        const user = ["late-release", randomUUID()];
        const first = await apply([reserve(user, 600, 1000)]);
        expect((await apply([reserve(user, 400, 1000)])).ok).toBe(true);
        const attempt = await releaseDecision(defaultObligations, lateGiving, first.decisionId, "invoices-api").catch((error: unknown) => error);
        // The retry comes once the late write had time to land, or not: either way the budget comes back once.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const retry = await release(first.decisionId, "invoices-api");
        const spent = await readState([{ name: "spent", type: "counter", key: user, window: DAY }], T0);
        expect(spent).toEqual({ spent: 400 });
        if (retry.status === "already_released") {
          // someone gave it back: the attempt that missed its deadline (its write landed), or the attempt itself in time
          expect(attempt instanceof Error || (attempt as { status: string }).status === "released").toBe(true);
        } else {
          expect(retry).toEqual({
            status: "released",
            released: [{ type: "reserve", key: user.join("/"), amount: 600, limit: 1000, window: "day", total: 0 }],
          });
        }
        expect(await release(first.decisionId, "invoices-api")).toEqual({ status: "already_released", released: [] });
        expect((await apply([reserve(user, 601, 1000)])).ok).toBe(false); // given back once, not twice
      }
    } finally {
      await hasty.close();
    }
  });

  it("answers already_released, not unknown, after a release, and unknown once a counter's holders moved on past RELEASABLE", async () => {
    const key = ["busy", randomUUID()];
    const first = await apply([rate(key, 1_000_000)]);
    expect((await release(first.decisionId, "invoices-api")).status).toBe("released");
    const old = await apply([rate(key, 1_000_000)]);
    for (let i = 0; i < RELEASABLE; i++) await apply([rate(key, 1_000_000)]);
    expect((await release(first.decisionId, "invoices-api")).status).toBe("already_released");
    // older than the last RELEASABLE reservations of its counter: counted, no longer releasable
    expect((await release(old.decisionId, "invoices-api")).status).toBe("unknown_decision");
  });

  it("never gives back a brake's count: not with an allow's other obligations, not for a denial, not in a rollback", async () => {
    const key = ["brake", randomUUID()];
    const counted = async () => (await readState([{ name: "n", type: "counter", key, window: { kind: "sliding", seconds: 60 } }], T0))["n"];
    const user = ["user", randomUUID()];
    // an allow: its reservation comes back, its brake count stays
    const allowed = await apply([brake(key, 100), reserve(user, 10, 10)]);
    expect(allowed.ok).toBe(true);
    expect(await release(allowed.decisionId, "invoices-api")).toEqual({
      status: "released",
      released: [{ type: "reserve", key: user.join("/"), amount: 10, limit: 10, window: "day", total: 0 }],
    });
    expect(await counted()).toBe(1);
    // a denial's brake: nothing of it is the decision's to give back
    const denied = randomUUID();
    await applyBrakes(defaultObligations, store, [brake(key, 100)], { nowMs: T0, decisionId: denied, api: "invoices-api" }, (_, error) => {
      throw error;
    });
    expect(await counted()).toBe(2);
    expect(await release(denied, "invoices-api")).toEqual({ status: "unknown_decision", released: [] });
    expect(await counted()).toBe(2);
    // an allow refused by a later obligation rolls back that decision's reservation, not its brake count
    expect((await apply([brake(key, 100), reserve(user, 11, 10)])).ok).toBe(false);
    expect(await counted()).toBe(3);
  });

  it("is refused to another API and for unknown decisions", async () => {
    const first = await apply([reserve(["user", randomUUID()], 1, 10)]);
    expect((await release(first.decisionId, "payments-api")).status).toBe("unknown_decision");
    expect((await release(randomUUID(), "invoices-api")).status).toBe("unknown_decision");
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
  it("are undone, so a timed-out decision holds no budget or key", async () => {
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
    // the writes did land (the counter exists), and were given back: only allowed decisions hold anything
    const counter = await raw("counters").findOne({ key: user.map(encodeURIComponent).join("/"), window: { $regex: "^day:" } });
    expect(counter).toMatchObject({ total: 10 * allowed });
    expect(counter?.["h"]).toHaveLength(allowed);
    await hasty.close();
  });
});

describe("housekeeping", () => {
  it("removes expired counters and keys, and nothing that is still live", async () => {
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
