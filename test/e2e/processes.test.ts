// `verdict serve` on every core: several processes serving one port, supervised by
// a primary that says when all serve, serves their readiness and metrics, replaces one that dies
// and, on SIGTERM, stops them all with their audit records written.
import { randomUUID } from "node:crypto";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { availableParallelism } from "node:os";
import * as grpc from "@grpc/grpc-js";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { writeServeConfig } from "../support/config.js";
import { serveVerdict, stopProcess, type ServingVerdict, alive } from "../support/cli.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { connectTestClient, uniqueDatabaseName } from "../support/mongo.js";
import { servingProcesses } from "../support/sockets.js";

const API_KEY = "processes-key";
const database = uniqueDatabaseName("processes");
let configFile: string;
/** The bundle this Verdict serves, and its shadow: copies of the test bundle, which a test breaks. */
let bundleFile: string;
let shadowFile: string;
let issuer: TestIssuer;
let serving: ServingVerdict;

/** The JSON log lines of the server so far. */
const logLines = () => serving.logLines();
const processLines = () => logLines().filter((line) => line["msg"] === "verdict process is serving");
/** A client on its own connection (channels to one address otherwise share theirs). */
const client = () => new TestClient(serving.address, API_KEY, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });

beforeAll(async () => {
  issuer = await createTestIssuer();
  configFile = writeServeConfig("processes", issuer, API_KEY, { processes: 2, mongodb_database: database, log_level: "info" });
  bundleFile = join(dirname(configFile), "bundle.tar.gz");
  shadowFile = join(dirname(configFile), "shadow.tar.gz");
  copyFileSync(inject("bundlePath"), bundleFile);
  copyFileSync(inject("bundlePath"), shadowFile);
  const config = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
  writeFileSync(configFile, JSON.stringify({ ...config, bundle: bundleFile, shadow_bundle: shadowFile }));
  serving = await serveVerdict(["--config", configFile]);
});

afterAll(async () => {
  if (serving) await stopProcess(serving.child);
});

describe("verdict serve with processes: 2", () => {
  it("says it serves once both processes do, on one port", () => {
    const primary = logLines().find((line) => line["msg"] === "verdict is serving");
    expect(primary).toMatchObject({ address: serving.address, processes: 2 });
    const pids = processLines().map((line) => line["pid"]);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(serving.child.pid);
    expect(processLines().every((line) => line["address"] === serving.address)).toBe(true);
  });

  it("gives each process its share of the CPUs for policy workers", () => {
    // policy_workers: auto: CPUs / processes, at least 1, at most 2
    const share = Math.max(1, Math.min(2, Math.floor(availableParallelism() / 2)));
    expect(processLines().map((line) => line["policyWorkers"])).toEqual([share, share]);
  });

  it.runIf(process.platform === "linux")("starts each process with the young generation and the malloc arenas bounded", () => {
    for (const pid of processLines().map((line) => Number(line["pid"]))) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      expect(argv).toContain("--max-semi-space-size=8");
      // what the test's own environment says, when it says it (the operator's setting wins)
      expect(environ).toContain(`MALLOC_ARENA_MAX=${process.env["MALLOC_ARENA_MAX"] ?? "2"}`);
    }
  });

  it("decides on every connection, and serves the metrics and readiness of both processes from the primary's admin listener", async () => {
    const token = await issuer.token({ sub: "reader" });
    const clients = Array.from({ length: 4 }, client);
    try {
      const answers = await Promise.all(clients.flatMap((c) => Array.from({ length: 5 }, () => c.check({ token, action: "invoices:read" }))));
      expect(answers.every((answer) => answer.decision === "ALLOW")).toBe(true);
    } finally {
      for (const c of clients) c.close();
    }
    const primary = logLines().find((line) => line["msg"] === "verdict is serving");
    const response = await fetch(`${String(primary?.["admin"])}/metrics`);
    expect(response.status).toBe(200);
    // one active revision in each of the two processes, summed by the primary
    const text = await response.text();
    expect(text).toMatch(/verdict_policy_revision\{bundle="active",revision="[^"]+"\} 2/);
    // ready and the database up: 1 only when they are in every process (the least of them)
    expect(text).toMatch(/^verdict_ready 1$/m);
    expect(text).toMatch(/^verdict_database_up 1$/m);
    // ready: every check passes in both processes
    await vi.waitFor(async () => {
      const ready = await fetch(`${String(primary?.["admin"])}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: "ready", checks: { processes: true, bundle: true, database: true, serving: true } });
    });
  });

  it.runIf(process.platform === "linux")("hands each gRPC connection to the process with the fewest open, however they arrive", async () => {
    const port = Number(serving.address.split(":").pop());
    const pids = processLines().map((line) => Number(line["pid"]));
    const admin = String(logLines().find((line) => line["msg"] === "verdict is serving")?.["admin"]);
    const opened: Socket[] = [];
    /** `n` connections opened at once, as a load generator or the SDK opens its own. */
    const open = async (n: number) => {
      const sockets = await Promise.all(
        Array.from(
          { length: n },
          () =>
            new Promise<Socket>((resolve, reject) =>
              opened.push(
                connect(port, "127.0.0.1", function (this: Socket) {
                  resolve(this);
                }).once("error", reject),
              ),
            ),
        ),
      );
      return sockets;
    };
    /** The process serving each socket, once each is served. */
    const where = async (sockets: readonly Socket[]) => {
      let at: (number | undefined)[] = [];
      await vi.waitFor(() => {
        at = servingProcesses(
          port,
          sockets.map((socket) => socket.localPort ?? 0),
          pids,
        );
        expect(at).not.toContain(undefined);
      });
      return at as number[];
    };
    const perProcess = (at: readonly number[]) => pids.map((pid) => at.filter((p) => p === pid).length);
    /** The primary's count of each process's open connections (its /metrics). */
    const counted = async () => {
      const text = await (await fetch(`${admin}/metrics`)).text();
      return pids.map((pid) => Number(new RegExp(`^verdict_process_grpc_connections\\{pid="${pid}"\\} (\\d+)$`, "m").exec(text)?.[1]));
    };
    try {
      // Four at once: two each (Node's cluster often gave one process three).
      const first = await open(4);
      const firstAt = await where(first);
      expect(perProcess(firstAt)).toEqual([2, 2]);
      await vi.waitFor(async () => expect(await counted()).toEqual([2, 2]));

      // One process's two close: the next two go to it, where handing out in turn would give each one.
      const emptied = firstAt[0] as number;
      for (const [i, socket] of first.entries()) if (firstAt[i] === emptied) socket.destroy();
      await vi.waitFor(async () => expect(await counted()).toEqual(pids.map((pid) => (pid === emptied ? 0 : 2))));
      expect(await where(await open(2))).toEqual([emptied, emptied]);
      await vi.waitFor(async () => expect(await counted()).toEqual([2, 2]));
    } finally {
      for (const socket of opened) socket.destroy();
    }
  });

  it("replaces a process that dies, and keeps deciding with the configuration it started with", async () => {
    // The file changed since the start (here to one no process could start with): the
    // replacement serves with the primary's configuration, as the process it replaces did.
    writeFileSync(configFile, "processes: [not, a, number]\n");
    const victim = Number(processLines()[0]?.["pid"]);
    process.kill(victim, "SIGKILL");
    await vi.waitFor(() => expect(processLines()).toHaveLength(3), { timeout: 20_000, interval: 100 });
    expect(logLines().some((line) => line["msg"] === "a Verdict process stopped unexpectedly; starting another" && line["pid"] === victim)).toBe(true);
    const token = await issuer.token({ sub: "reader" });
    const c = client();
    try {
      expect((await c.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");
    } finally {
      c.close();
    }
  });

  it("replaces a process that dies while the bundle's file (and its shadow's) does not load with one serving the last good revision", async () => {
    const token = await issuer.token({ sub: "reader" });
    const c = client();
    try {
      const served = (await c.check({ token, action: "invoices:read" })).policy_revision;
      // A broken bundle and shadow deployed: the processes refuse them and keep serving theirs (hot reload).
      writeFileSync(bundleFile, "not a bundle");
      writeFileSync(shadowFile, "not a bundle");
      const refused = (bundle: string) =>
        logLines().filter((line) => line["msg"] === "policy bundle did not load; the last good revision keeps serving" && line["bundle"] === bundle);
      await vi.waitFor(() => expect([refused("active").length, refused("shadow").length]).toEqual([2, 2]), { timeout: 20_000, interval: 100 });
      // A process dies meanwhile: its replacement cannot load the file, and serves the copy of what the others serve.
      const before = processLines().length;
      const victim = processLines()
        .map((line) => Number(line["pid"]))
        .find(alive) as number;
      process.kill(victim, "SIGKILL");
      await vi.waitFor(() => expect(processLines()).toHaveLength(before + 1), { timeout: 20_000, interval: 100 });
      const replacement = Number(processLines()[before]?.["pid"]);
      const fromCopy = (bundle: string) =>
        logLines().find(
          (line) => line["msg"]?.toString().startsWith("serving the last good policy bundle") && line["pid"] === replacement && line["bundle"] === bundle,
        );
      expect(fromCopy("active")).toMatchObject({ revision: served });
      // the shadow the others compare against, not none
      expect(fromCopy("shadow")).toMatchObject({ revision: served });
      // Connections go to the process with the fewest: some of these to the replacement.
      const more = Array.from({ length: 4 }, client);
      try {
        for (const one of more) {
          const response = await one.check({ token, action: "invoices:read" });
          expect([response.decision, response.policy_revision]).toEqual(["ALLOW", served]);
        }
      } finally {
        for (const one of more) one.close();
      }
    } finally {
      c.close();
      copyFileSync(inject("bundlePath"), bundleFile);
      copyFileSync(inject("bundlePath"), shadowFile);
    }
  });

  it("stops every process on SIGTERM, with every decision's audit record written, and exits 0", async () => {
    const requestId = `stop-${randomUUID()}`;
    const token = await issuer.token({ sub: "last-reader" });
    const clients = Array.from({ length: 4 }, client);
    try {
      await Promise.all(clients.map((c) => c.check({ token, action: "invoices:read", requestId })));
    } finally {
      for (const c of clients) c.close();
    }
    const pids = processLines().map((line) => Number(line["pid"]));
    expect(await stopProcess(serving.child)).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
    const mongo = await connectTestClient();
    try {
      expect(await mongo.db(database).collection("decisions").countDocuments({ request_id: requestId })).toBe(4);
    } finally {
      await mongo.close();
    }
  });
});
