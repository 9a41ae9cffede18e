// verdict serve when one of its processes throws an exception nothing catches (a bug in a
// callback): it stops as on SIGTERM, finishing its calls and writing its audit records, and
// ends in error; a primary starts another in its place. Node would end it at once, with the
// records still in its buffer.
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { servingWithRecordsBuffered } from "../support/buffered.js";
import { alive } from "../support/cli.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";

const API_KEY = "faults-key";
/** Loaded into every process: SIGUSR2 makes it throw from a timer. */
const FAULT = fileURLToPath(new URL("../fixtures/faults/throw-on-sigusr2.mjs", import.meta.url));
const WITH_FAULT = { NODE_OPTIONS: `${process.env["NODE_OPTIONS"] ?? ""} --import ${FAULT}`.trim() };
const FAULT_LOGGED = "an exception nothing caught: stopping (calls in flight finished, every audit record written), then exiting in error";

let issuer: TestIssuer;
const served: ChildProcess[] = [];

beforeAll(async () => {
  issuer = await createTestIssuer();
});

afterAll(() => {
  for (const child of served) child.kill("SIGKILL");
});

describe("verdict serve, one process, on an exception nothing caught", () => {
  it("writes every decision's audit record, then exits 1 saying why", async () => {
    const { serving, records, stops } = await servingWithRecordsBuffered("fault-single", { issuer, apiKey: API_KEY, processes: 1, env: WITH_FAULT });
    served.push(serving.child);
    const exited = new Promise<number | null>((resolve) => serving.child.once("exit", (code) => resolve(code)));
    serving.child.kill("SIGUSR2");
    expect(await exited).toBe(1);
    expect(await records(), serving.stderr()).toBe(4);
    expect(stops()).toEqual(["uncaught exception"]);
    const fault = serving.logLines().find((line) => line["msg"] === FAULT_LOGGED);
    expect((fault?.["err"] as { message?: string } | undefined)?.message).toBe("a fault the test injected (SIGUSR2)");
    expect(serving.stderr()).toContain("verdict serve: stopped after an exception nothing caught");
  });
});

describe("verdict serve with processes: 2, when one process hits an exception nothing caught", () => {
  it("writes that process's records, ends it in error, and serves on with another in its place", async () => {
    const { serving, pids, records, stops } = await servingWithRecordsBuffered("fault-worker", { issuer, apiKey: API_KEY, processes: 2, env: WITH_FAULT });
    served.push(serving.child);
    const [faulty, other] = pids as [number, number];
    process.kill(faulty, "SIGUSR2");
    await vi.waitFor(() => expect(alive(faulty)).toBe(false), { timeout: 20_000, interval: 50 });
    // Both processes' records: the faulty one's from its stop (lost without it), the other's from its next flush.
    await vi.waitFor(async () => expect(await records(), serving.stderr()).toBe(4), { timeout: 5_000, interval: 100 });
    expect(stops()).toEqual(["uncaught exception"]);
    // The primary hands it no new connection while it stops.
    expect(serving.logLines().find((line) => line["msg"] === "a Verdict process is stopping: new connections go to the others")?.["pid"]).toBe(faulty);
    // The primary starts another process in its place; the other serves on throughout.
    const replaced = () => serving.logLines().find((line) => line["msg"] === "a Verdict process stopped unexpectedly; starting another");
    await vi.waitFor(() => expect(replaced()).toBeDefined(), { timeout: 10_000, interval: 50 });
    expect(replaced()).toMatchObject({ pid: faulty, code: 1 });
    await vi.waitFor(
      () => expect(serving.logLines().filter((line) => line["msg"] === "verdict process is serving" && !pids.includes(Number(line["pid"])))).toHaveLength(1),
      { timeout: 30_000, interval: 100 },
    );
    expect(alive(other)).toBe(true);
    const client = new TestClient(serving.address, API_KEY);
    try {
      const answer = await client.check({ token: await issuer.token({ sub: "reader" }), action: "invoices:read" });
      expect(answer.decision).toBe("ALLOW");
    } finally {
      client.close();
    }
  });
});
