// What a serving process listens for to stop (src/cli/shutdown.ts): the signals and an
// exception nothing caught, each heard once however often it is asked for, and all of it
// let go by release() (a start that failed: signals and exceptions end the process again
// as by default).
import { afterEach, describe, expect, it } from "vitest";
import { Shutdown } from "../../src/cli/shutdown.js";

const counts = () => ({
  SIGTERM: process.listenerCount("SIGTERM"),
  SIGINT: process.listenerCount("SIGINT"),
  SIGHUP: process.listenerCount("SIGHUP"),
  uncaughtException: process.listenerCount("uncaughtException"),
});

describe("a serving process's stop", () => {
  let shutdown: Shutdown | undefined;
  afterEach(async () => shutdown?.release());

  it("listens once for each stop signal and for an exception nothing caught, however often asked, and lets go of all of it on release", async () => {
    const before = counts();
    shutdown = new Shutdown();
    shutdown
      .onSignals()
      .onSignals()
      .stopOnFaults(() => undefined)
      .stopOnFaults(() => undefined);
    expect(counts()).toEqual({
      SIGTERM: before.SIGTERM + 1,
      SIGINT: before.SIGINT + 1,
      SIGHUP: before.SIGHUP + 1,
      uncaughtException: before.uncaughtException + 1,
    });
    await shutdown.release();
    expect(counts()).toEqual(before);
  });

  it("keeps a stop asked for before the server started, and carries it out once it has", async () => {
    shutdown = new Shutdown();
    shutdown.ask("SIGTERM");
    const reasons: string[] = [];
    await shutdown.stopWith(async (why) => {
      reasons.push(why);
    });
    expect(reasons).toEqual(["SIGTERM"]);
    expect(shutdown.complete).toBe(true);
  });
});
