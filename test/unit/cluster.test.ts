// What each serving process of `verdict serve` runs with: its share of the CPUs for
// policy workers, and a bound on its heap's growth unless the operator set one.
import { EventEmitter } from "node:events";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import {
  FORKED_MALLOC_ARENAS,
  FORKED_SEMI_SPACE_FLAG,
  forkedProcessEnv,
  forkedProcessFlags,
  policyWorkersPerProcess,
  PRIMARY_ANSWER_WAIT_MS,
  primaryAdminUrl,
  primaryConfiguration,
  SERVING_HEAP_GROWTH_FLAG,
  servingRuntimeFlags,
} from "../../src/cluster/index.js";
import { KeptBundleDir } from "../../src/cluster/kept-bundles.js";
import { silentLogger } from "../../src/observability/index.js";

describe("policy workers per process", () => {
  it("keeps a number the configuration gives", () => {
    expect(policyWorkersPerProcess(3, 8)).toBe(3);
  });

  it("gives each process of auto its share of the CPUs, at least one and at most two", () => {
    const cpus = availableParallelism();
    expect(policyWorkersPerProcess("auto", 1)).toBe(Math.min(2, cpus));
    expect(policyWorkersPerProcess("auto", cpus)).toBe(1);
    expect(policyWorkersPerProcess("auto", cpus * 4)).toBe(1);
    expect(policyWorkersPerProcess("auto", Math.max(1, Math.floor(cpus / 2)))).toBe(cpus >= 2 ? 2 : 1);
  });
});

describe("the serving process's heap growth", () => {
  it("is bounded at 25% of what is live after a full collection", () => {
    expect(SERVING_HEAP_GROWTH_FLAG).toBe("--heap-growing-percent=25");
    expect(servingRuntimeFlags(["--enable-source-maps"])).toEqual([SERVING_HEAP_GROWTH_FLAG]);
  });

  it("is left to the operator who gives it on node's command line, spelled either way", () => {
    expect(servingRuntimeFlags(["--heap-growing-percent=50"])).toEqual([]);
    expect(servingRuntimeFlags(["--heap_growing_percent=0"])).toEqual([]);
  });
});

describe("the young generation of the processes a primary starts", () => {
  it("is bounded at two semi-spaces of 8 MB", () => {
    expect(FORKED_SEMI_SPACE_FLAG).toBe("--max-semi-space-size=8");
    expect(forkedProcessFlags(["--enable-source-maps"], "--no-warnings")).toEqual([FORKED_SEMI_SPACE_FLAG]);
  });

  it("is left to the operator who sizes it on node's command line or in NODE_OPTIONS", () => {
    expect(forkedProcessFlags(["--max_semi_space_size=32"], "")).toEqual([]);
    expect(forkedProcessFlags([], "--enable-source-maps --max-semi-space-size=4")).toEqual([]);
  });
});

describe("the malloc arenas of the processes a primary starts", () => {
  it("are bounded at two", () => {
    expect(FORKED_MALLOC_ARENAS).toEqual({ MALLOC_ARENA_MAX: "2" });
    expect(forkedProcessEnv({ PATH: "/usr/bin" })).toEqual({ MALLOC_ARENA_MAX: "2" });
    expect(forkedProcessEnv({ GLIBC_TUNABLES: "glibc.malloc.trim_threshold=131072" })).toEqual({ MALLOC_ARENA_MAX: "2" });
  });

  it("are left to the operator who bounds them in the environment, either way glibc reads it", () => {
    expect(forkedProcessEnv({ MALLOC_ARENA_MAX: "8" })).toEqual({});
    expect(forkedProcessEnv({ GLIBC_TUNABLES: "glibc.malloc.arena_max=4" })).toEqual({});
    expect(forkedProcessEnv({ GLIBC_TUNABLES: "glibc.malloc.trim_threshold=131072:glibc.malloc.arena_max=1" })).toEqual({});
  });
});

class Channel extends EventEmitter {
  sent: unknown[] = [];
  send(message: unknown): boolean {
    this.sent.push(message);
    return true;
  }
}

describe("the primary's admin_listen URL, as a worker asks for it", () => {
  it("asks once and answers with what the primary says, past its other messages", async () => {
    const channel = new Channel();
    const url = primaryAdminUrl(channel);
    expect(channel.sent).toEqual([{ verdict: "admin-url?" }]);
    channel.emit("message", { verdict: "all-serving" });
    channel.emit("message", { verdict: "admin-url", url: "https://verdict.example" });
    await expect(url).resolves.toBe("https://verdict.example");
    expect(channel.listenerCount("message")).toBe(0);
  });

  it("gives up with a typed error when the primary does not say in time", async () => {
    const channel = new Channel();
    const url = primaryAdminUrl(channel, 50);
    await expect(url).rejects.toMatchObject({ code: "internal", message: expect.stringMatching(/did not say admin_listen's URL within 0.05 s/) });
    expect(channel.listenerCount("message")).toBe(0);
    expect(PRIMARY_ANSWER_WAIT_MS).toBe(30_000);
  });
});

describe("the primary's configuration, as a worker asks for it", () => {
  it("asks once and takes the configuration the primary answers, past its other messages", async () => {
    const channel = new Channel();
    const configuration = primaryConfiguration(channel);
    expect(channel.sent).toEqual([{ verdict: "configuration?" }]);
    channel.emit("message", { verdict: "admin-url", url: "https://verdict.example" });
    channel.emit("message", { verdict: "configuration", configuration: { listen: { host: "127.0.0.1", port: 50051 } } });
    await expect(configuration).resolves.toEqual({ configuration: { listen: { host: "127.0.0.1", port: 50051 } }, bundles: undefined });
    expect(channel.listenerCount("message")).toBe(0);
  });

  it("takes where the primary keeps the bundles' copies, and the last good one, with it", async () => {
    const channel = new Channel();
    const configuration = primaryConfiguration(channel);
    const bundles = { dir: "/tmp/verdict-bundles-x", lastGood: "/tmp/verdict-bundles-x/abc" };
    channel.emit("message", { verdict: "configuration", configuration: {}, bundles });
    await expect(configuration).resolves.toEqual({ configuration: {}, bundles });
  });

  it("gives up with a typed error when the primary does not say in time", async () => {
    const channel = new Channel();
    await expect(primaryConfiguration(channel, 50)).rejects.toMatchObject({
      code: "internal",
      message: expect.stringMatching(/did not say the configuration within 0.05 s/),
    });
    expect(channel.listenerCount("message")).toBe(0);
  });
});

describe("the primary's copies of the bundles its processes loaded", () => {
  it("hands out the copy reported last, keeps the one before it, and removes older ones and the directory", () => {
    const kept = KeptBundleDir.create(silentLogger()) as KeptBundleDir;
    const { dir } = kept.kept;
    expect(kept.kept).toEqual({ dir });
    const copies = ["r1", "r2", "r3"].map((name) => join(dir, name));
    for (const copy of copies) mkdirSync(copy);
    kept.keep(copies[0] as string, "active");
    kept.keep(copies[1] as string, "active");
    kept.keep(copies[0] as string, "active"); // reported again by another process: the last one now
    expect(kept.kept).toEqual({ dir, lastGood: copies[0] });
    kept.keep(copies[2] as string, "active");
    expect(kept.kept).toEqual({ dir, lastGood: copies[2] });
    expect(copies.map((copy) => existsSync(copy))).toEqual([true, false, true]);
    // A path outside its directory is not one of its copies.
    kept.keep("/etc", "active");
    expect(kept.kept.lastGood).toBe(copies[2]);
    kept.remove();
    expect(existsSync(dir)).toBe(false);
  });

  it("keeps the shadow bundle's copies apart, and a copy both roles hold until neither does", () => {
    const kept = KeptBundleDir.create(silentLogger()) as KeptBundleDir;
    const { dir } = kept.kept;
    const [one, two, three, four] = ["r1", "r2", "r3", "r4"].map((name) => join(dir, name)) as [string, string, string, string];
    for (const copy of [one, two, three, four]) mkdirSync(copy);
    kept.keep(one, "active");
    kept.keep(one, "shadow"); // the same revision as active and as shadow: one copy
    kept.keep(two, "shadow");
    expect(kept.kept).toEqual({ dir, lastGood: one, lastGoodShadow: two });
    kept.keep(three, "shadow"); // one leaves the shadow's two latest, but active still holds it
    expect(kept.kept).toEqual({ dir, lastGood: one, lastGoodShadow: three });
    expect(existsSync(one)).toBe(true);
    kept.keep(two, "active");
    kept.keep(four, "active"); // now neither role holds one
    expect(kept.kept).toEqual({ dir, lastGood: four, lastGoodShadow: three });
    expect([one, two, three, four].map((copy) => existsSync(copy))).toEqual([false, true, true, true]);
    kept.remove();
  });
});
