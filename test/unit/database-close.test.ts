// Closing the database lets give-backs still being tried in the background finish
// first (state/give-back.ts), for at most CLOSE_WAIT_MS, and says which it was. The
// client is never connected here: closing it is all that is asked of it.
import { afterEach, describe, expect, it, vi } from "vitest";
import { CLOSE_WAIT_MS, Database } from "../../src/database/database.js";
import { captureLog } from "../support/log.js";

function openDatabase() {
  const captured = captureLog();
  const database = Database.open({ uri: "mongodb://127.0.0.1:9/?directConnection=true", database: "close_test", log: captured.log });
  return { database, messages: () => captured.lines().map((line) => line["msg"]) };
}

afterEach(() => vi.useRealTimers());

describe("closing the database", () => {
  it("waits for the give-backs under way, and closes once they have finished", async () => {
    const { database, messages } = openDatabase();
    let finish!: () => void;
    database.finishBeforeClose(new Promise<void>((resolve) => (finish = resolve)));
    database.finishBeforeClose(Promise.reject(new Error("a give-back that failed is finished too")));
    const closing = database.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(database.isClosed).toBe(false);
    finish();
    await closing;
    expect(database.isClosed).toBe(true);
    expect(messages()).toContain("give-backs under way finished before the database was closed");
  });

  it("waits at most CLOSE_WAIT_MS, and says what it left under way", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { database, messages } = openDatabase();
    database.finishBeforeClose(new Promise(() => undefined));
    const closing = database.close();
    await vi.advanceTimersByTimeAsync(CLOSE_WAIT_MS - 10);
    expect(database.isClosed).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    vi.useRealTimers();
    await closing;
    expect(database.isClosed).toBe(true);
    expect(messages()).toContain("closing the database with give-backs still under way: what they hold stays held until it expires");
  });

  it("closes at once when nothing is under way", async () => {
    const { database, messages } = openDatabase();
    database.finishBeforeClose(Promise.resolve());
    await new Promise((resolve) => setImmediate(resolve));
    await database.close();
    expect(database.isClosed).toBe(true);
    expect(messages()).toEqual([]);
  });
});
