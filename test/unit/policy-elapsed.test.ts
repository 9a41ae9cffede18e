// The policy pool's per-evaluation time bound reads a worker's start stamp from an
// Int32Array (ms since the pool's epoch): the stamp wraps after 2^31 ms, 24.9 days of
// one bundle served, and the time an evaluation has run must not wrap with it.
import { describe, expect, it } from "vitest";
import { elapsedMs } from "../../src/policy/pool.js";

/** What the worker stores and the pool reads back: the stamp as an Int32Array element holds it. */
const stored = (stamp: number) => new Int32Array([Math.floor(stamp)])[0] as number;

describe("the time an evaluation has run", () => {
  it("is now minus its start, for a pool of any age up to and past the stamp's wrap at 2^31 ms", () => {
    for (const age of [0, 1_000, 2 ** 31 - 5, 2 ** 31, 2 ** 31 + 5_000, 2 ** 32 + 123, 100 * 86_400_000]) {
      expect(elapsedMs(age + 8.7, stored(age))).toBe(8);
      expect(elapsedMs(age + 60, stored(age))).toBe(60);
      expect(elapsedMs(age, stored(age))).toBe(0);
    }
  });

  it("spans the wrap itself: started just before 2^31 ms, read just after", () => {
    expect(elapsedMs(2 ** 31 + 3, stored(2 ** 31 - 7))).toBe(10);
    expect(elapsedMs(2 ** 32 + 3, stored(2 ** 32 - 7))).toBe(10);
  });
});
