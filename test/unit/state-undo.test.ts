// A write that holds budget and fails its caller may hold it all the same: it landed
// after its deadline, or its outcome is unknown (the connection failed after it was
// sent). Its undo gives it back: a late success once; an unknown outcome at once and
// again once the write can no longer be in flight; each try again while the database
// does not take it. A server's refusal wrote nothing, and nothing is undone.
import { MongoNetworkError, MongoServerError, MongoServerSelectionError, MongoWriteConcernError } from "mongodb";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../src/observability/index.js";
import { StateUnavailableError } from "../../src/state/index.js";
import { CAP_FACTOR, StateCalls, UNDO_TRIES } from "../../src/state/calls.js";
import { captureLog } from "../support/log.js";

const TIMEOUT_MS = 500;
/** When the driver gives up on a call: twice the cap, at least 2 s. */
const ABANDON_MS = Math.max(2_000, 2 * CAP_FACTOR * TIMEOUT_MS);

/** An undo that counts its tries, failing the first `failures` of them. */
function countingUndo(failures = 0) {
  const tries = { count: 0 };
  const undo = () => {
    tries.count += 1;
    return tries.count <= failures ? Promise.reject(new Error("the database did not take it")) : Promise.resolve(true);
  };
  return { tries, undo };
}

beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate", "performance", "Date"] }));
afterEach(() => vi.useRealTimers());

describe("a write that failed its caller", () => {
  it("is given back at once when its outcome is unknown, and again once it can no longer be in flight", async () => {
    const calls = new StateCalls(TIMEOUT_MS, silentLogger());
    const { tries, undo } = countingUndo();
    const call = calls.call("reserve", () => Promise.reject(new MongoNetworkError("connection reset by peer")), { undo });
    await expect(call).rejects.toBeInstanceOf(StateUnavailableError);
    await vi.advanceTimersByTimeAsync(0);
    expect(tries.count).toBe(1);
    await vi.advanceTimersByTimeAsync(ABANDON_MS - 10);
    expect(tries.count).toBe(1);
    await vi.advanceTimersByTimeAsync(20);
    expect(tries.count).toBe(2);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tries.count).toBe(2);
  });

  it("is given back when the server applied it but its write concern failed", async () => {
    const calls = new StateCalls(TIMEOUT_MS, silentLogger());
    const { tries, undo } = countingUndo();
    const error = new MongoWriteConcernError({ ok: 1, writeConcernError: { code: 64, errmsg: "waiting for replication timed out" } });
    await expect(calls.call("reserve", () => Promise.reject(error), { undo })).rejects.toBeInstanceOf(StateUnavailableError);
    await vi.advanceTimersByTimeAsync(0);
    expect(tries.count).toBe(1);
  });

  it("is not undone when the server refused it or none could be reached: nothing was written", async () => {
    const calls = new StateCalls(TIMEOUT_MS, silentLogger());
    const { tries, undo } = countingUndo();
    const refused = new MongoServerError({ code: 11000, errmsg: "E11000 duplicate key error" });
    await expect(calls.call("reserve", () => Promise.reject(refused), { undo })).rejects.toBeInstanceOf(StateUnavailableError);
    const unreachable = new MongoServerSelectionError("connect ECONNREFUSED", { type: "Unknown", servers: new Map() } as never);
    await expect(calls.call("reserve", () => Promise.reject(unreachable), { undo })).rejects.toBeInstanceOf(StateUnavailableError);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tries.count).toBe(0);
  });

  it("is given back once when its success arrives after its deadline", async () => {
    const calls = new StateCalls(TIMEOUT_MS, silentLogger());
    const { tries, undo } = countingUndo();
    let answer: (value: string) => void = () => undefined;
    const call = calls.call("reserve", () => new Promise<string>((resolve) => (answer = resolve)), { undo });
    const refused = expect(call).rejects.toBeInstanceOf(StateUnavailableError);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS + 10);
    await refused;
    expect(tries.count).toBe(0);
    answer("applied");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tries.count).toBe(1);
  });

  it("has its undo tried again while the database does not take it, and says so when it gives up", async () => {
    const captured = captureLog();
    const calls = new StateCalls(TIMEOUT_MS, captured.log);
    const { tries, undo } = countingUndo(Infinity);
    await expect(calls.call("reserve", () => Promise.reject(new MongoNetworkError("socket closed")), { undo })).rejects.toBeInstanceOf(StateUnavailableError);
    await vi.advanceTimersByTimeAsync(ABANDON_MS + 60_000);
    // UNDO_TRIES at once, and UNDO_TRIES again once the write can no longer be in flight
    expect(tries.count).toBe(2 * UNDO_TRIES);
    expect(captured.lines().filter((line) => line["msg"] === "could not give back what a write may hold; it stays held until it expires")).toHaveLength(2);
  });

  it("is given back by a try after the ones that failed, and logged as given back", async () => {
    const captured = captureLog();
    const calls = new StateCalls(TIMEOUT_MS, captured.log);
    const { tries, undo } = countingUndo(2);
    await expect(calls.call("reserve", () => Promise.reject(new MongoNetworkError("socket closed")), { undo })).rejects.toBeInstanceOf(StateUnavailableError);
    // state_timeout_ms after the first try, then twice that after the second
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS * 2 + 10);
    expect(tries.count).toBe(2);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    expect(tries.count).toBe(3);
    expect(captured.lines()).toContainEqual(
      expect.objectContaining({ msg: "gave back what a write held after its caller was refused", what: "reserve", why: "outcome unknown" }),
    );
  });
});

describe("a refused decision's rollback", () => {
  it("answers its caller after the first try, and tries again in the background while the database does not take it", async () => {
    const captured = captureLog();
    const calls = new StateCalls(TIMEOUT_MS, captured.log);
    const { tries, undo } = countingUndo(2);
    await expect(calls.giveBack("roll back a reservation", undo)).rejects.toThrow("the database did not take it");
    expect(tries.count).toBe(1);
    // state_timeout_ms after the first try, then twice that after the second
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 10);
    expect(tries.count).toBe(1);
    await vi.advanceTimersByTimeAsync(20);
    expect(tries.count).toBe(2);
    await vi.advanceTimersByTimeAsync(2 * TIMEOUT_MS);
    expect(tries.count).toBe(3);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tries.count).toBe(3);
    expect(captured.lines()).toContainEqual(
      expect.objectContaining({
        msg: "gave back what a write held after its caller was refused",
        what: "roll back a reservation",
        why: "a refused decision's rollback",
      }),
    );
  });

  it("says so when a try finds nothing left after one that failed (which may have landed all the same)", async () => {
    const captured = captureLog();
    const calls = new StateCalls(TIMEOUT_MS, captured.log);
    let tries = 0;
    const landedLate = () => (++tries === 1 ? Promise.reject(new Error("no answer within the deadline")) : Promise.resolve(false));
    await expect(calls.giveBack("roll back a reservation", landedLate)).rejects.toThrow();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tries).toBe(2);
    expect(captured.lines()).toContainEqual(
      expect.objectContaining({ msg: "nothing left to give back after a try that failed: it landed after all, or nothing was held", tries: 2 }),
    );
    expect(captured.lines().filter((line) => String(line["msg"]).startsWith("gave back") || String(line["msg"]).startsWith("could not"))).toEqual([]);
  });

  it("is not tried again when the first try was taken, and says so when every try fails", async () => {
    const { tries, undo } = countingUndo();
    const calls = new StateCalls(TIMEOUT_MS, silentLogger());
    await expect(calls.giveBack("roll back once", undo)).resolves.toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tries.count).toBe(1);

    const captured = captureLog();
    const failing = countingUndo(Infinity);
    await expect(new StateCalls(TIMEOUT_MS, captured.log).giveBack("roll back once", failing.undo)).rejects.toThrow();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(failing.tries.count).toBe(UNDO_TRIES);
    expect(captured.lines().filter((line) => line["msg"] === "could not give back what a write may hold; it stays held until it expires")).toHaveLength(1);
  });
});
