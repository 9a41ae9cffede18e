// How a process reads the database's clock from a server's replies: the midpoint of the
// shortest round trip, hello or (an older server) isMaster, the last good offset kept
// when a measurement fails. Against the real server: test/integration/database-clock.test.ts.
import type { Db, Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { DatabaseClock } from "../../src/database/clock.js";
import { captureLog } from "../support/log.js";

/** A server whose clock is `serverAheadMs` ahead of the fake local one, answering each command after `delays` (ms of the local clock). */
function server(serverAheadMs: number, { delays = [10], hello = true, fail = false }: { delays?: number[]; hello?: boolean; fail?: boolean } = {}) {
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
      const localTime = new Date(local + delay / 2 + serverAheadMs);
      local += delay;
      return Promise.resolve({ ok: 1, localTime });
    },
  } as unknown as Db;
  return { db: () => db, now: () => local, asked, setFail: (value: boolean) => (fail = value) };
}

describe("DatabaseClock", () => {
  it("takes the offset from the shortest of its round trips", async () => {
    const fake = server(5_000, { delays: [400, 20, 200] });
    const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now });
    expect(await clock.measure()).toBe(true);
    expect(clock.measurement).toEqual({ offsetMs: 5_000, roundTripMs: 20 });
    expect(clock.now()).toBe(fake.now() + 5_000);
  });

  it("asks isMaster of a server that has no hello, from then on", async () => {
    const fake = server(-3_000, { hello: false });
    const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now });
    expect(await clock.measure()).toBe(true);
    expect(clock.offsetMs()).toBe(-3_000);
    expect(fake.asked).toEqual(["hello", "isMaster", "isMaster", "isMaster"]);
  });

  it("keeps the last good offset while the server does not answer, and says so once", async () => {
    const captured = captureLog();
    const fake = server(2_000);
    const clock = new DatabaseClock(fake.db, { log: captured.log, now: fake.now });
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
    const clock = new DatabaseClock(fake.db, { log: captureLog().log, now: fake.now, deadlineMs: 60_000 });
    expect(await clock.measure()).toBe(false);
    expect(clock.measurement).toBeUndefined();
  });
});
