// The primary's restart budget (src/cluster/restarts.ts): processes that die more than
// 5 times within a minute stop the server; fewer, or spread wider, are replaced. Counted
// on the monotonic clock (fake timers: vi.setSystemTime steps the wall clock only).
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { MAX_RESTARTS, RESTART_WINDOW_MS, RestartBudget } from "../../src/cluster/restarts.js";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/** `times` deaths, `everyMs` apart; what the budget said to each. */
function deaths(budget: RestartBudget, times: number, everyMs: number): (number | undefined)[] {
  return Array.from({ length: times }, () => {
    vi.advanceTimersByTime(everyMs);
    return budget.died();
  });
}

it("replaces five deaths within a minute and stops at the sixth", () => {
  const budget = new RestartBudget();
  expect(deaths(budget, MAX_RESTARTS, 1_000)).toEqual(Array(MAX_RESTARTS).fill(undefined));
  expect(budget.died()).toBe(MAX_RESTARTS + 1);
});

it("replaces deaths for ever when they are more than a minute apart in sixes", () => {
  const budget = new RestartBudget();
  expect(deaths(budget, 30, RESTART_WINDOW_MS / MAX_RESTARTS + 1)).toEqual(Array(30).fill(undefined));
});

it("counts on the monotonic clock: deaths spread over an hour do not stop the server when the wall clock stepped back", () => {
  const budget = new RestartBudget();
  expect(budget.died()).toBeUndefined();
  vi.setSystemTime(Date.now() - 3_600_000); // an NTP correction; performance.now() goes on
  expect(deaths(budget, 11, 5 * 60_000)).toEqual(Array(11).fill(undefined));
});
