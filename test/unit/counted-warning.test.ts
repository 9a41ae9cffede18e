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
});
