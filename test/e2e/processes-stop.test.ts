// verdict serve with several processes, stopped at awkward moments: by SIGTERM or Ctrl-C
// while it starts, and by the loss of its primary or its terminal while its processes serve.
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { servingWithRecordsBuffered } from "../support/buffered.js";
import { VERDICT_BIN, alive } from "../support/cli.js";
import { writeServeConfig } from "../support/config.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { uniqueDatabaseName } from "../support/mongo.js";

const API_KEY = "processes-stop-key";
let issuer: TestIssuer;

beforeAll(async () => {
  issuer = await createTestIssuer();
});

/**
 * Starts `verdict serve` with two processes in a process group of its own and, once one of
 * them has logged (its start under way; the primary does not serve yet), sends `signal`
 * to the primary alone or, as Ctrl-C in a terminal does, to the whole group.
 */
async function stopWhileStarting(name: string, signal: NodeJS.Signals, to: "primary" | "group") {
  const config = writeServeConfig(name, issuer, API_KEY, { processes: 2, mongodb_database: uniqueDatabaseName(name.replace(/-/g, "_")), log_level: "info" });
  const child = spawn(process.execPath, [VERDICT_BIN, "serve", "--config", config], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let signalledAt: number | undefined;
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    if (signalledAt === undefined && /"pid":\d+/.test(stderr)) {
      signalledAt = stderr.length;
      process.kill(to === "group" ? -(child.pid as number) : (child.pid as number), signal);
    }
  });
  const code = await exited;
  const pids = [...stderr.matchAll(/"pid":(\d+)/g)].map((match) => Number(match[1]));
  return { code, stderr, beforeSignal: stderr.slice(0, signalledAt), pids };
}

describe("verdict serve with processes: 2, stopped while it starts", () => {
  it.each([
    ["a SIGTERM to the primary", "SIGTERM", "primary"],
    ["Ctrl-C (SIGINT to every process of the group)", "SIGINT", "group"],
  ] as const)("stops every process once they have started, and exits 0, on %s that comes before it serves", async (_, signal, to) => {
    const run = await stopWhileStarting(`stop-starting-${to}`, signal, to);
    expect(run.code).toBe(0);
    expect(run.beforeSignal).not.toContain('"msg":"verdict is serving"');
    expect(run.pids.length).toBeGreaterThan(0);
    expect(run.pids.filter(alive)).toEqual([]);
    expect(run.stderr).toContain('"why":"asked by the primary"');
    expect(run.stderr).not.toMatch(/EPIPE|ERR_IPC/);
  });
});

/** The Verdicts the tests below start: killed at the end whatever happened. */
const served: ChildProcess[] = [];

afterAll(() => {
  for (const child of served) child.kill("SIGKILL");
});

/** Two serving processes with four Checks answered, two by each: their records are in the processes' buffers. */
async function twoServingWithRecordsBuffered(name: string) {
  const buffered = await servingWithRecordsBuffered(name, { issuer, apiKey: API_KEY, processes: 2 });
  served.push(buffered.serving.child);
  return buffered;
}

describe("verdict serve with processes: 2, when its primary is killed", () => {
  it("finishes each process's calls and writes every decision's audit record before the process exits", async () => {
    const { serving, pids, records, stops } = await twoServingWithRecordsBuffered("primary-lost");
    // The records are in the processes' buffers (written every 200 ms by default) when the primary dies.
    serving.child.kill("SIGKILL");
    await vi.waitFor(() => expect(pids.filter(alive)).toEqual([]), { timeout: 20_000, interval: 50 });
    expect(await records(), serving.stderr()).toBe(4);
    expect(stops()).toEqual(["the primary is gone", "the primary is gone"]);
  });
});

describe("verdict serve with processes: 2, when its terminal hangs up", () => {
  it("stops as on SIGTERM, every audit record written, exit 0 (a hang-up ended every process at once)", async () => {
    const { serving, pids, records, stops } = await twoServingWithRecordsBuffered("hang-up");
    const exited = new Promise<number | null>((resolve) => serving.child.once("exit", (code) => resolve(code)));
    // A terminal that closes sends SIGHUP to every process of its group.
    for (const pid of [serving.child.pid as number, ...pids]) process.kill(pid, "SIGHUP");
    expect(await exited).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
    expect(await records(), serving.stderr()).toBe(4);
    expect(stops()).toHaveLength(2);
    expect(serving.stderr()).not.toMatch(/EPIPE|ERR_IPC/);
  });
});
