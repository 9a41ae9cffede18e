import { describe, expect, it } from "vitest";
import { withDeadline } from "../../src/deadline.js";

const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe("withDeadline", () => {
  it("answers with the call when it is in time", async () => {
    await expect(withDeadline(after(5, "ok"), 1_000, () => new Error("late"))).resolves.toBe("ok");
  });

  it("rejects with the deadline's error when the timer wins, and hands the late value on", async () => {
    const late: string[] = [];
    await expect(
      withDeadline(
        after(60, "landed"),
        10,
        () => new Error("no answer in time"),
        (value) => late.push(value),
      ),
    ).rejects.toThrow("no answer in time");
    await after(80, null);
    expect(late).toEqual(["landed"]);
  });

  it("does not hand on a value that was in time, and ignores a failure after the deadline", async () => {
    const late: string[] = [];
    await withDeadline(
      after(1, "in time"),
      1_000,
      () => new Error("late"),
      (value) => late.push(value),
    );
    await expect(withDeadline(new Promise((_, reject) => setTimeout(() => reject(new Error("boom")), 40)), 5, () => new Error("timeout"))).rejects.toThrow(
      "timeout",
    );
    await after(60, null);
    expect(late).toEqual([]);
  });
});
