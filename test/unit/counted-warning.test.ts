// CountedWarning (src/observability/log.ts): the first of a flood of warnings is
// logged at once, the rest counted into one line per window.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CountedWarning } from "../../src/observability/index.js";
import { captureLog } from "../support/log.js";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("a counted warning", () => {
  it("logs the first at once and the rest of each window together, then nothing while nothing happens", () => {
    const captured = captureLog();
    const warning = new CountedWarning(captured.log, "refused", { what: "x" }, 1_000);
    const lines = () => captured.lines().map(({ msg, times, withinMs, what }) => ({ msg, times, withinMs, what }));
    warning.count();
    expect(lines()).toEqual([{ msg: "refused", times: 1, withinMs: undefined, what: "x" }]);

    for (let i = 0; i < 500; i++) warning.count();
    vi.advanceTimersByTime(999);
    expect(lines()).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(lines()[1]).toEqual({ msg: "refused", times: 500, withinMs: 1_000, what: "x" });

    // a quiet window logs nothing; the next one after it is logged at once again
    vi.advanceTimersByTime(5_000);
    expect(lines()).toHaveLength(2);
    warning.count();
    expect(lines()[2]).toEqual({ msg: "refused", times: 1, withinMs: undefined, what: "x" });
  });

  it("shows the fields of the last count each line stands for", () => {
    const captured = captureLog();
    const warning = new CountedWarning(captured.log, "could not write", {}, 1_000);
    warning.count({ error: "first" });
    warning.count({ error: "second" });
    warning.count({ error: "third" });
    vi.advanceTimersByTime(1_000);
    warning.count();
    vi.advanceTimersByTime(1_000);
    expect(captured.lines().map(({ times, error }) => ({ times, error }))).toEqual([
      { times: 1, error: "first" },
      { times: 2, error: "third" },
      { times: 1, error: undefined },
    ]);
  });

  it("keeps its windows when the wall clock is stepped back", () => {
    const captured = captureLog();
    const warning = new CountedWarning(captured.log, "refused", {}, 1_000);
    warning.count();
    vi.setSystemTime(Date.now() - 3_600_000);
    warning.count();
    vi.advanceTimersByTime(1_000);
    expect(captured.lines().map(({ times }) => times)).toEqual([1, 1]);
    vi.advanceTimersByTime(1_000);
    warning.count();
    expect(captured.lines().map(({ times }) => times)).toEqual([1, 1, 1]);
  });
});
