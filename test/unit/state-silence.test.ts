// The state deadline counts the database's silence from when the work began waiting
// on it: a read or a reservation queued behind a call the database does not answer is
// refused state_timeout_ms after it arrived, not after the call before it and then a
// full deadline of its own; while the database answers, a queued call is waited for.
// Once found silent, the database is pinged and every other call refused at once,
// unsent, until it answers again.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../src/observability/index.js";
import { StateCalls, StateUnavailableError } from "../../src/state/index.js";
import { Lanes, type Settled } from "../../src/state/lanes.js";
import { ReadBatcher } from "../../src/state/read-batcher.js";

const TIMEOUT_MS = 500;

/** A database call that never answers, or answers when told to. */
function pendingCall() {
  let answer: (docs: { _id: string }[]) => void = () => undefined;
  const promise = new Promise<{ _id: string }[]>((resolve) => (answer = resolve));
  return { promise, answer };
}

/** Makes a call the database does not answer until told, kept in `sent` for the test to answer. */
function recording(sent: ReturnType<typeof pendingCall>[]) {
  return () => {
    const call = pendingCall();
    sent.push(call);
    return call.promise;
  };
}

/** When each promise settled (fake ms since the test's start), and how. */
function track<T>(promise: Promise<T>, start: number) {
  const seen: { at?: number; error?: unknown } = {};
  promise.then(
    () => (seen.at = performance.now() - start),
    (error: unknown) => {
      seen.at = performance.now() - start;
      seen.error = error;
    },
  );
  return seen;
}

/** Reads batched as the counter store batches them, each under the state deadline; the calls sent, to answer or not. */
function batchedReads() {
  const calls = new StateCalls(TIMEOUT_MS, silentLogger());
  const sent: ReturnType<typeof pendingCall>[] = [];
  const batcher = new ReadBatcher<{ _id: string }>((_ids, waitingSince) => calls.call("read state", recording(sent), { waitingSince }));
  return { batcher, sent };
}

beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate", "performance", "Date"] }));
afterEach(() => vi.useRealTimers());

describe("a read queued behind reads the database does not answer", () => {
  it("is refused state_timeout_ms after it was asked for, not after those and then its own deadline", async () => {
    const { batcher, sent } = batchedReads();
    const start = performance.now();
    const first = track(batcher.read(["a"]), start);
    const second = track(batcher.read(["b"]), start);
    await vi.advanceTimersByTimeAsync(100);
    const queued = track(batcher.read(["c"]), start); // two reads in flight: this one waits
    expect(sent).toHaveLength(2);

    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 100 + 5);
    expect(first.error).toBeInstanceOf(StateUnavailableError);
    expect(second.error).toBeInstanceOf(StateUnavailableError);
    expect(sent).toHaveLength(3); // sent once a place freed up, at 500 ms
    expect(queued.at).toBeUndefined();

    await vi.advanceTimersByTimeAsync(110);
    // silent since it was asked for at 100 ms: refused at about 600 ms, not 1,000
    expect(queued.error).toBeInstanceOf(StateUnavailableError);
    expect(queued.at).toBeGreaterThanOrEqual(100 + TIMEOUT_MS);
    expect(queued.at).toBeLessThan(100 + TIMEOUT_MS + 20);
  });

  it("is waited for its own deadline when the database answered meanwhile", async () => {
    const { batcher, sent } = batchedReads();
    const start = performance.now();
    track(batcher.read(["a"]), start);
    track(batcher.read(["b"]), start);
    const queued = track(batcher.read(["c"]), start);
    await vi.advanceTimersByTimeAsync(400);
    sent[0]?.answer([{ _id: "a" }]); // an answer at 400 ms: the database is alive
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(3);

    await vi.advanceTimersByTimeAsync(400 + TIMEOUT_MS - 401 - 10);
    expect(queued.at).toBeUndefined(); // silent for less than state_timeout_ms since that answer
    await vi.advanceTimersByTimeAsync(30);
    expect(queued.error).toBeInstanceOf(StateUnavailableError);
    expect(queued.at).toBeGreaterThanOrEqual(400 + TIMEOUT_MS);
  });
});

describe("a reservation queued in its document's lane behind a turn the database does not answer", () => {
  it("is refused state_timeout_ms after it was submitted", async () => {
    const calls = new StateCalls(TIMEOUT_MS, silentLogger());
    const lanes = new Lanes<string, string>(async (_key, items, waitingSince): Promise<Settled<string>[]> => {
      try {
        await calls.call("reserve", () => pendingCall().promise, { waitingSince });
        return items.map((item) => ({ ok: true, value: item }));
      } catch (error) {
        return items.map(() => ({ ok: false, error }));
      }
    });
    const start = performance.now();
    const first = track(lanes.submit("counter", "first"), start);
    await vi.advanceTimersByTimeAsync(50);
    const queued = track(lanes.submit("counter", "queued"), start);

    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 50 + 5);
    expect(first.error).toBeInstanceOf(StateUnavailableError);
    expect(queued.at).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60);
    expect(queued.error).toBeInstanceOf(StateUnavailableError);
    expect(queued.at).toBeLessThan(50 + TIMEOUT_MS + 20);
  });
});

describe("a database found silent", () => {
  /** State calls whose failures are observed, the calls sent through them and the pings they send, to answer or not. */
  function silentDatabase({ pinged = true } = {}) {
    const failures: (string | undefined)[] = [];
    const pings: ReturnType<typeof pendingCall>[] = [];
    const calls = new StateCalls(TIMEOUT_MS, silentLogger(), {
      onCall: (_what, _seconds, failure) => failures.push(failure),
      ...(pinged ? { ping: recording(pings) } : {}),
    });
    const sent: ReturnType<typeof pendingCall>[] = [];
    const send = (options: Parameters<StateCalls["call"]>[2] = {}) => calls.call("reserve", recording(sent), options);
    return { failures, pings, sent, send };
  }

  /** A call refused for the database's silence: from then on it is known silent. */
  async function findSilent(send: () => Promise<unknown>, start: number) {
    const first = track(send(), start);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS + 5);
    expect(first.error).toBeInstanceOf(StateUnavailableError);
  }

  it("is pinged, and every call is refused at once, unsent, until it answers; a ping a round while calls keep coming", async () => {
    const { failures, pings, sent, send } = silentDatabase();
    const start = performance.now();
    await findSilent(send, start);
    expect(pings).toHaveLength(1); // pinged as soon as it was found silent

    const refused = [track(send(), start), track(send(), start)];
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(1);
    for (const one of refused) {
      expect(one.error).toBeInstanceOf(StateUnavailableError);
      expect((one.error as StateUnavailableError).atOnce).toBe(true);
      expect(one.at).toBeLessThan(TIMEOUT_MS + 10);
    }
    expect(failures).toEqual(["timeout", "silent", "silent"]);

    // calls refused during the round: the next round pings again; a round without any: no more pings
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    expect(pings).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(3 * TIMEOUT_MS);
    expect(pings).toHaveLength(2);
  });

  it("has its calls sent again from its first answer: to a ping, or to a call refused long before", async () => {
    for (const answer of ["ping", "late call"] as const) {
      const { pings, sent, send } = silentDatabase();
      const start = performance.now();
      await findSilent(send, start);
      expect(track(send(), start)).toBeDefined();
      await vi.advanceTimersByTimeAsync(0);
      expect(sent).toHaveLength(1);

      (answer === "ping" ? pings[0] : sent[0])?.answer([]);
      await vi.advanceTimersByTimeAsync(1);
      const again = [track(send(), start), track(send(), start)];
      expect(sent).toHaveLength(3);
      sent[1]?.answer([{ _id: "a" }]);
      sent[2]?.answer([{ _id: "b" }]);
      await vi.advanceTimersByTimeAsync(1);
      expect(again.map((call) => [call.at !== undefined, call.error])).toEqual([
        [true, undefined],
        [true, undefined],
      ]);
    }
  });

  it("is asked by the next call itself when nothing is pinging it, the others refused at once meanwhile", async () => {
    const { sent, send } = silentDatabase({ pinged: false });
    const start = performance.now();
    await findSilent(send, start);
    const asking = track(send(), start);
    const refused = track(send(), start);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(2);
    expect(refused.error).toBeInstanceOf(StateUnavailableError);

    // the asking call has the whole deadline; once it is refused, the next call asks
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 10);
    expect(asking.at).toBeUndefined();
    await vi.advanceTimersByTimeAsync(15);
    expect(asking.error).toBeInstanceOf(StateUnavailableError);
    track(send(), start);
    expect(sent).toHaveLength(3);
  });

  it("still has give-backs sent", async () => {
    const { sent, send } = silentDatabase();
    const start = performance.now();
    await findSilent(send, start);
    const refused = track(send(), start);
    const givenBack = track(send({ givesBack: true }), start);
    await vi.advanceTimersByTimeAsync(0);
    expect(refused.error).toBeInstanceOf(StateUnavailableError);
    expect(sent).toHaveLength(2); // the first call, and the give-back
    sent[1]?.answer([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(givenBack.error).toBeUndefined();
    expect(givenBack.at).toBeDefined();
  });

  it("is not found silent while it answers, however slowly", async () => {
    const { failures, pings, sent, send } = silentDatabase();
    const start = performance.now();
    const calls = [track(send(), start), track(send(), start), track(send(), start)];
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 100); // each answer within the deadline of the silence before it
      sent[i]?.answer([]);
    }
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((call) => call.error)).toEqual([undefined, undefined, undefined]);
    const later = [track(send(), start), track(send(), start)];
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(5);
    expect(later.map((call) => call.at)).toEqual([undefined, undefined]);
    expect(failures).toEqual([undefined, undefined, undefined]);
    expect(pings).toEqual([]);
  });
});
