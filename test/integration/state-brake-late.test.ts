// Counter writes that the database applies but answers after their deadline, against a
// real MongoDB-wire server: a reservation's is given back (the caller was refused, so it
// holds nothing), a brake's count stays (it counts decisions, and is never given back).
import { randomUUID } from "node:crypto";
import type { Document } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppliedObligation, ObligationPorts, PolicySuspension, WindowSpec } from "../../src/contract/index.js";
import { applyBrakes, applyObligations, defaultObligations, type RateRequest, type ReserveRequest, type SuspendRequest } from "../../src/obligations/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { COUNTERS, CounterStore, DEFAULT_STATE_TIMEOUT_MS, StateCalls, StateUnavailableError } from "../../src/state/index.js";
import { openTestState, type TestState } from "../support/state.js";

let store: TestState;
beforeAll(async () => {
  store = await openTestState({ name: "brake_late" });
});
afterAll(async () => {
  await store.close();
});

/**
 * Five times the state deadline: the reply of a write comes after its caller was refused. Not twice: the deadline is
 * measured on answers once the event loop has taken in what arrived (calls.ts), so on a machine that stalled this
 * worker for a second the reply was taken in first, and the write was not late at all (seen once in a full run).
 */
const LATE_MS = 5 * DEFAULT_STATE_TIMEOUT_MS;
const MINUTE: WindowSpec = { kind: "sliding", seconds: 60 };
const fail = { effect: "deny" as const };

/**
 * The counters over the test's database, at the default state deadline, whose conditional updates of documents
 * named in `late` are applied by the server as usual and answered LATE_MS afterwards. `settled()` waits for those
 * replies and for the give-backs they set off (StateCalls' background work); `writes()` counts them.
 */
function lateCounters() {
  const collection = store.database.collection(COUNTERS);
  const late = new Set<string>();
  const replies: Promise<unknown>[] = [];
  const background: Promise<unknown>[] = [];
  const slow = new Proxy(collection, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property !== "findOneAndUpdate") return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return (filter: Document, ...rest: unknown[]) => {
        const written = (value as (...a: unknown[]) => Promise<unknown>).apply(target, [filter, ...rest]);
        if (![...late].some((marker) => String(filter["_id"]).includes(marker))) return written;
        const reply = written.then(async (result) => {
          await new Promise((resolve) => setTimeout(resolve, LATE_MS));
          return result;
        });
        replies.push(reply.catch(() => undefined));
        return reply;
      };
    },
  });
  const calls = new StateCalls(DEFAULT_STATE_TIMEOUT_MS, silentLogger(), { keepOpenFor: (work) => background.push(work) });
  const counters = new CounterStore(slow, calls);
  const settled = async () => {
    await Promise.all(replies);
    await Promise.all(background);
  };
  return { counters, late, settled, writes: () => replies.length };
}

/** What the counter `key` (a minute's sliding window) counts now, and the decisions it holds, read with the test's own stores. */
async function counterOf(key: string[]) {
  const [state] = await store.counters.read([[{ name: "n", type: "counter", key, window: MINUTE }]], Date.now());
  const doc = await store.database.collection(COUNTERS).findOne({ key: key.join("/") });
  return { total: state?.["n"], holders: (doc?.h ?? []).map((h) => h.d) };
}

const brake = (key: string[], after: number): SuspendRequest => ({
  type: "suspend",
  key,
  target: "agent",
  seconds: 60,
  after: { limit: after, window: MINUTE },
  reason: { code: "principal_suspended", message: "braked" },
  onFailure: fail,
});
const reserve = (key: string[], amount: number, limit: number): ReserveRequest => ({
  type: "reserve",
  key,
  amount,
  limit,
  window: MINUTE,
  reason: { code: "limit_exceeded", message: "over" },
  onFailure: fail,
});
const rate = (key: string[], limit: number): RateRequest => ({
  type: "rate",
  key,
  limit,
  window: MINUTE,
  reason: { code: "rate_limited", message: "slow down" },
  onFailure: fail,
});

const principal = { issuer: "https://issuer.test", subject: "user-1", client_id: "agent-1" };
const context = () => ({ nowMs: Date.now(), decisionId: randomUUID(), api: "invoices-api", principal });

describe("counter writes that land after their deadline", () => {
  it("keep a brake's count: the brake fires at its `after`, not later", async () => {
    const { counters, late, settled } = lateCounters();
    const suspended: PolicySuspension[] = [];
    const ports: ObligationPorts = {
      counters,
      once: store.once,
      suspensions: { suspend: (request) => (suspended.push(request), Promise.resolve("suspended")) },
    };
    const key = ["brake-late", randomUUID()];
    const denial = async () => {
      const failures: unknown[] = [];
      const applied = await applyBrakes(defaultObligations, ports, [brake(key, 3)], context(), (_, error) => failures.push(error));
      return { applied, failures };
    };

    late.add(key[1] as string);
    const first = await denial();
    expect(first.applied).toEqual([]);
    expect(first.failures).toEqual([expect.any(StateUnavailableError)]);
    await settled();
    late.clear();
    // the count reached the database after its caller was refused, and stays
    expect((await counterOf(key)).total).toBe(1);

    const status = (applied: AppliedObligation[]) => applied.map((one) => [one.total, one.details?.["status"]]);
    expect(status((await denial()).applied)).toEqual([[2, "counted"]]);
    expect(status((await denial()).applied)).toEqual([[3, "counted"]]);
    expect(suspended).toEqual([]);
    // more than 3 decisions in the minute, the first among them
    expect(status((await denial()).applied)).toEqual([[4, "suspended"]]);
    expect(suspended).toMatchObject([{ target: { kind: "agent", client_id: "agent-1" }, seconds: 60 }]);
  });

  it("still give back a reservation and a rate: the refused decision holds nothing", async () => {
    const { counters, late, settled } = lateCounters();
    const ports: ObligationPorts = { counters, once: store.once };
    const user = ["reserve-late", randomUUID()];
    const agent = ["rate-late", randomUUID()];
    late.add(user[1] as string).add(agent[1] as string);
    await expect(applyObligations(defaultObligations, ports, [reserve(user, 60, 100)], context())).rejects.toThrow(StateUnavailableError);
    await expect(applyObligations(defaultObligations, ports, [rate(agent, 1)], context())).rejects.toThrow(StateUnavailableError);
    await settled();
    late.clear();
    expect(await counterOf(user)).toEqual({ total: 0, holders: [] });
    expect(await counterOf(agent)).toEqual({ total: 0, holders: [] });
    // the whole limit is there again
    expect((await applyObligations(defaultObligations, ports, [reserve(user, 100, 100)], context())).ok).toBe(true);
    expect((await applyObligations(defaultObligations, ports, [rate(agent, 1)], context())).ok).toBe(true);
  });

  it("give back the rates but keep the brake counts of one late write to the same counter", async () => {
    const { counters, late, settled, writes } = lateCounters();
    const ports: ObligationPorts = { counters, once: store.once };
    const key = ["shared-late", randomUUID()];
    late.add(key[1] as string);
    // the first rate's write is under way when the others come: a rate and a brake go together in the next turn
    const first = applyObligations(defaultObligations, ports, [rate(key, 100)], context());
    const failures: unknown[] = [];
    const braked = context();
    const together = [
      applyObligations(defaultObligations, ports, [rate(key, 100)], context()),
      applyBrakes(defaultObligations, ports, [brake(key, 100)], braked, (_, error) => failures.push(error)),
    ];
    await expect(first).rejects.toThrow(StateUnavailableError);
    await expect(together[0]).rejects.toThrow(StateUnavailableError);
    expect(await together[1]).toEqual([]);
    expect(failures).toEqual([expect.any(StateUnavailableError)]);
    await settled();
    expect(writes()).toBe(2);
    expect(await counterOf(key)).toEqual({ total: 1, holders: [braked.decisionId] });
  });
});
