import { connect, createServer, type AddressInfo } from "node:net";
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

  it("with ioFirst, counts an answer that arrived in time but waited behind a busy event loop as in time", async () => {
    // A real I/O answer: a loopback server answers at once, while the loop is held for 60 ms (as by a burst of requests).
    const server = createServer((socket) => socket.on("data", () => socket.write("pong")).on("error", () => {}));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = connect((server.address() as AddressInfo).port, "127.0.0.1");
    await new Promise((resolve) => client.once("connect", resolve));
    const ask = () =>
      new Promise<string>((resolve) => {
        client.once("data", (data) => resolve(data.toString()));
        client.write("ping");
        setImmediate(() => {
          const until = Date.now() + 60;
          while (Date.now() < until) {
            // held
          }
        });
      });
    try {
      const first = ask();
      await expect(withDeadline(first, 20, () => new Error("late"))).rejects.toThrow("late");
      // Its answer in before the next question (on a slow machine two answers could come in one read), and
      // the next asked from a timer, as before: the server is on this loop, and answers before the hold
      // only when the question is sent before the loop's poll phase.
      expect(await first).toBe("pong");
      await after(10, null);
      await expect(withDeadline(ask(), 20, () => new Error("late"), undefined, { ioFirst: true })).resolves.toBe("pong");
      // a call that is really late still is
      await expect(withDeadline(after(80, "too late"), 20, () => new Error("late"), undefined, { ioFirst: true })).rejects.toThrow("late");
    } finally {
      client.destroy();
      server.close();
    }
  });
});
