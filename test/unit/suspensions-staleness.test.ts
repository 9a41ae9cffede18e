// The suspension view's staleness is counted and logged on time (src/suspensions/follower.ts):
// a read of the version waiting on a database that does not answer (up to its 2 s bound)
// held back the count and the log, while deny_all, which reads the view's age at each
// Check, already acted on it, and a scrape reported the view stale with a count of 0 (seen
// in test/integration/suspensions-stale.test.ts on a busy machine); and the view's age is
// kept on the monotonic clock, so a step of the wall clock neither hides nor fakes it.
// Fake timers; the database is one that answers once and then never again.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SuspensionFollower } from "../../src/suspensions/follower.js";
import type { SuspensionStore } from "../../src/suspensions/store.js";
import { SuspensionView } from "../../src/suspensions/view.js";
import { captureLog } from "../support/log.js";

const STALE_AFTER_MS = 5_000;

/** A store whose first two reads answer (the version, then the set loads) and whose later reads never do. */
function storeThatStopsAnswering(): SuspensionStore {
  let reads = 0;
  return {
    version: () => (reads++ < 2 ? Promise.resolve(1) : new Promise<number>(() => undefined)),
    active: () => Promise.resolve([]),
  } as unknown as SuspensionStore;
}

describe("a suspension view whose database stops answering", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_700_000_000_000 }));
  afterEach(() => vi.useRealTimers());

  /** A follower (deny_all, polling every 250 ms) that has loaded the set once, on the fake timers' clocks. */
  const loadedFollower = async () => {
    const logged = captureLog();
    const follower = new SuspensionFollower(
      storeThatStopsAnswering(),
      new SuspensionView(),
      { follow: "poll", poll_interval_ms: 250, stale_after_ms: STALE_AFTER_MS, when_stale: "deny_all" },
      logged.log,
    );
    expect(await follower.start(1_000)).toBe(true);
    return { follower, logged };
  };

  it("counts and logs the view going stale once it is, while the read of the version still waits", async () => {
    const { follower, logged } = await loadedFollower();
    await vi.advanceTimersByTimeAsync(STALE_AFTER_MS - 500);
    expect(follower.stats()).toMatchObject({ stale: false, stalePeriods: 0 });

    await vi.advanceTimersByTimeAsync(1_000);
    expect(logged.lines().filter((line) => String(line["msg"]).startsWith("the suspension view is stale"))).toHaveLength(1);
    expect(follower.stats()).toMatchObject({ stale: true, stalePeriods: 1 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(follower.stats()).toMatchObject({ stale: true, stalePeriods: 1 });
    await follower.stop();
  });

  it("is stale on time when the wall clock is stepped back an hour (its age is kept on the monotonic clock)", async () => {
    const { follower } = await loadedFollower();
    vi.setSystemTime(Date.now() - 3_600_000); // an NTP correction; performance.now() goes on
    await vi.advanceTimersByTimeAsync(STALE_AFTER_MS + 500);
    expect(follower.fresh()).toBe(false);
    expect(follower.stats()).toMatchObject({ stale: true, stalePeriods: 1 });
    await follower.stop();
  });
});
