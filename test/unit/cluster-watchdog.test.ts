// The primary's watchdog over its processes' event loops (src/cluster/watchdog.ts), on
// fake timers: who is pinged, and when a silent process is judged slow, answering again,
// or hung.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HUNG_AFTER_MS, PING_INTERVAL_MS, SLOW_AFTER_MS, Watchdog, type Watched } from "../../src/cluster/watchdog.js";

/** A watched process that records what the watchdog did with it. */
function recorder() {
  const events: string[] = [];
  const process: Watched = {
    ping: () => events.push("ping"),
    slow: () => events.push("slow"),
    answeredAgain: () => events.push("answered again"),
    hung: () => events.push("hung"),
  };
  return { events, process, judged: () => events.filter((event) => event !== "ping") };
}

describe("the primary's watchdog", () => {
  let now = 0;
  let watchdog: Watchdog<string>;

  beforeEach(() => {
    vi.useFakeTimers();
    now = 0;
    watchdog = new Watchdog<string>(() => now);
  });
  afterEach(() => {
    watchdog.forget("a");
    watchdog.forget("b");
    vi.useRealTimers();
  });

  /** Lets `ms` pass, a second at a time, `answering` answering each ping as it comes. */
  const pass = (ms: number, answering: string[] = []) => {
    for (let passed = 0; passed < ms; passed += PING_INTERVAL_MS) {
      now += PING_INTERVAL_MS;
      vi.advanceTimersByTime(PING_INTERVAL_MS);
      for (const key of answering) watchdog.answered(key);
    }
  };

  /** Watches `keys`, each with a recorder of its own. */
  const watchAll = <const K extends readonly string[]>(...keys: K) =>
    keys.map((key) => {
      const watched = recorder();
      watchdog.watch(key, watched.process);
      return watched;
    }) as { [I in keyof K]: ReturnType<typeof recorder> };

  it("pings each process every second and leaves one that answers alone", () => {
    const [a] = watchAll("a");
    pass(60_000, ["a"]);
    expect(a.events.filter((event) => event === "ping")).toHaveLength(60);
    expect(a.judged()).toEqual([]);
  });

  it("says once that a silent process is slow, and once that it answers again", () => {
    const [a, b] = watchAll("a", "b");
    pass(SLOW_AFTER_MS - PING_INTERVAL_MS, ["b"]);
    expect(a.judged()).toEqual([]);
    pass(PING_INTERVAL_MS * 3, ["b"]);
    expect(a.judged()).toEqual(["slow"]);
    watchdog.answered("a");
    pass(30_000, ["a", "b"]);
    expect(a.judged()).toEqual(["slow", "answered again"]);
    expect(b.judged()).toEqual([]);
  });

  it("judges a process silent for 10 s hung, once, and pings it no more", () => {
    const [a, b] = watchAll("a", "b");
    pass(HUNG_AFTER_MS - PING_INTERVAL_MS, ["b"]);
    expect(a.judged()).toEqual(["slow"]);
    pass(PING_INTERVAL_MS, ["b"]);
    expect(a.judged()).toEqual(["slow", "hung"]);
    const pings = a.events.length;
    pass(30_000, ["b"]);
    expect(a.events).toHaveLength(pings);
    expect(b.judged()).toEqual([]);
  });

  it("judges no one for the time the primary itself did not run", () => {
    const [a] = watchAll("a");
    pass(2_000, ["a"]);
    // The machine paused the primary for 20 s: its next tick comes late, before the process has had the chance to answer.
    now += 20_000;
    pass(PING_INTERVAL_MS);
    expect(a.judged()).toEqual([]);
    watchdog.answered("a");
    pass(5_000, ["a"]);
    expect(a.judged()).toEqual([]);
  });

  it("measures silence on the monotonic clock: a step back of the wall clock does not hide a hung process", () => {
    watchdog = new Watchdog<string>(); // its own clock, the one the primary uses
    const [a] = watchAll("a");
    pass(2_000, ["a"]);
    vi.setSystemTime(Date.now() - 3_600_000); // the wall clock stepped back an hour; performance.now() goes on
    pass(HUNG_AFTER_MS);
    expect(a.judged()).toEqual(["slow", "hung"]);
  });

  it("stops its timer once it watches no one", () => {
    watchAll("a");
    expect(vi.getTimerCount()).toBe(1);
    watchdog.forget("a");
    expect(vi.getTimerCount()).toBe(0);
  });
});
