// How a process reads the database's clock from a server's replies: the midpoint of the
// shortest round trip, hello or (an older server) isMaster, the last good offset kept
// when a measurement fails. Against the real server: test/integration/database-clock.test.ts.
import type { Db, Document } from "mongodb";
import { describe, expect, it, vi } from "vitest";
import { DatabaseClock, UNMEASURED_RETRY_MS } from "../../src/database/clock.js";
import { captureLog } from "../support/log.js";

/**
 * A server whose clock is `serverAheadMs` ahead of the fake local one, answering each command after `delays` (ms of the
 * local clock), reading its clock `readAt` of the way through each round trip (half: the midpoint, exact).
 */
function server(serverAheadMs: number, { delays = [10], hello = true, fail = false }: { delays?: number[]; hello?: boolean; fail?: boolean } = {}) {
  let readAt = 0.5;
  let local = 1_000_000;
  const asked: string[] = [];
  let n = 0;
  const db = {
    command(command: Document): Promise<Document> {
      const name = Object.keys(command)[0] as string;
      asked.push(name);
      if (fail) return Promise.reject(new Error("connection refused"));
      if (name === "hello" && !hello) return Promise.reject(Object.assign(new Error("no such command: 'hello'"), { code: 59 }));
      const delay = delays[n++ % delays.length] as number;
      // the server reads its clock halfway through the round trip
      const localTime = new Date(local + delay * readAt + serverAheadMs);
      local += delay;
      return Promise.resolve({ ok: 1, localTime });
    },
  } as unknown as Db;
  return {
    db: () => db,
    now: () => local,
    asked,
    setFail: (value: boolean) => (fail = value),
    step: (ms: number) => (local += ms),
    /** From now on: another clock (a failover), other round trips, read elsewhere than their midpoint. */
    set: (next: { aheadMs?: number; delays?: number[]; readAt?: number }) => {
      serverAheadMs = next.aheadMs ?? serverAheadMs;
      if (next.delays) [delays, n] = [next.delays, 0];
      readAt = next.readAt ?? readAt;
    },
  };
}

describe("DatabaseClock", () => {
  it("takes the offset from the shortest of its round trips", async () => {
    const fake = server(5_000, { delays: [400, 20, 200] });
    const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now, elapsed: fake.now });
    expect(await clock.measure()).toBe(true);
    expect(clock.measurement).toEqual({ offsetMs: 5_000, roundTripMs: 20 });
    expect(clock.now()).toBe(fake.now() + 5_000);
  });

  it("asks isMaster of a server that has no hello, from then on", async () => {
    const fake = server(-3_000, { hello: false });
    const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now, elapsed: fake.now });
    expect(await clock.measure()).toBe(true);
    expect(clock.offsetMs()).toBe(-3_000);
    expect(fake.asked).toEqual(["hello", "isMaster", "isMaster", "isMaster"]);
  });

  it("keeps the last good offset while the server does not answer, and says so once", async () => {
    const captured = captureLog();
    const fake = server(2_000);
    const clock = new DatabaseClock(fake.db, { log: captured.log, now: fake.now, elapsed: fake.now });
    expect(await clock.measure()).toBe(true);
    fake.setFail(true);
    expect(await clock.measure()).toBe(false);
    expect(await clock.measure()).toBe(false);
    expect(clock.offsetMs()).toBe(2_000);
    const warned = captured.lines().filter((line) => String(line["msg"]).startsWith("could not measure"));
    expect(warned.map((line) => line["msg"])).toEqual(["could not measure the database's clock: the last offset measured (2000 ms) is kept"]);
  });

  it("does not use a round trip too long to say when the server read its clock", async () => {
    const fake = server(2_000, { delays: [1_500] });
    const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now, elapsed: fake.now, deadlineMs: 60_000 });
    expect(await clock.measure()).toBe(false);
    expect(clock.measurement).toBeUndefined();
  });

  it("keeps a measurement over a short round trip when a slower one agrees with it within its error (a busy database)", async () => {
    const fake = server(5_000, { delays: [2] });
    const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now, elapsed: fake.now });
    expect(await clock.measure()).toBe(true);
    // 800 ms round trips, the server reading its clock at their start: 400 ms off, within their error of 401
    fake.set({ delays: [800], readAt: 0 });
    expect(await clock.measure()).toBe(true);
    expect(clock.measuredOffsetMs()).toBe(5_000);
    expect(clock.measurement).toEqual({ offsetMs: 5_000, roundTripMs: 2 });
  });

  it("takes a slower measurement that disagrees beyond both errors at once (the database's clock moved, another primary)", async () => {
    const fake = server(5_000, { delays: [2] });
    const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now, elapsed: fake.now });
    expect(await clock.measure()).toBe(true);
    fake.set({ aheadMs: 8_000, delays: [800], readAt: 0 });
    expect(await clock.measure()).toBe(true);
    expect(clock.measuredOffsetMs()).toBe(7_600);
  });

  it("takes a slower measurement once the kept one is as uncertain, its error grown by drift since", async () => {
    const fake = server(5_000, { delays: [2] });
    const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now, elapsed: fake.now });
    expect(await clock.measure()).toBe(true);
    fake.set({ delays: [800], readAt: 0 });
    fake.step(3_600_000); // an hour later: 360 ms of drift at DRIFT_PER_MS, not yet 401
    expect(await clock.measure()).toBe(true);
    expect(clock.measuredOffsetMs()).toBe(5_000);
    fake.step(600_000); // ten minutes more: 420 ms
    expect(await clock.measure()).toBe(true);
    expect(clock.measuredOffsetMs()).toBe(4_600);
  });

  it("keeps the database's time on the monotonic clock: a step of the host's wall clock does not move it", async () => {
    const fake = server(5_000);
    let monotonic = 0;
    const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now, elapsed: () => monotonic });
    expect(await clock.measure()).toBe(true);
    const before = clock.now();
    monotonic += 1_000;
    fake.step(1_000); // a second passes
    expect(clock.now()).toBe(before + 1_000);
    fake.step(8_000); // the host's clock is stepped 8 s ahead (NTP, a VM resumed): the database's time is where it was
    expect(clock.now()).toBe(before + 1_000);
    expect(clock.measuredOffsetMs()).toBe(5_000 - 8_000);
  });

  it("has no offset to give windowed counters before a measurement worked, and tries again every second until one does", async () => {
    vi.useFakeTimers();
    try {
      const fake = server(2_000, { fail: true });
      const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now, elapsed: fake.now });
      expect(await clock.start()).toBe(false);
      expect(clock.measuredOffsetMs()).toBeUndefined();
      expect(clock.offsetMs()).toBe(0);
      fake.setFail(false);
      await vi.advanceTimersByTimeAsync(UNMEASURED_RETRY_MS);
      expect(clock.measuredOffsetMs()).toBe(2_000);
      clock.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
