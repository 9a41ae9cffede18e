// Health that tells the truth: GET /healthz (alive) and /readyz (ready) on the
// admin listener, and grpc.health.v1 following readiness. Not ready while the
// bundle loads, until the database has been reached once, when the audit trail
// can keep no record, and from the first moment of shutdown; a database outage
// after start degrades decisions (state fails closed) but keeps the replica ready.
// Includes issue 12's defect 4: a Verdict started before its database recovers by itself.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { startLocalMongo, type MongoServerProcess } from "../../src/dev/index.js";
import { buildFixtureBundle } from "../support/bundles.js";
import { grpcHealth, healthz, readyz, watchGrpcHealth } from "../support/health.js";
import { captureLog } from "../support/log.js";
import { freePort } from "../support/mongo-servers.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let statePolicy: string;
beforeAll(async () => {
  statePolicy = await buildFixtureBundle("state-policy");
});

/** A metric's value in the admin listener's /metrics text (undefined when absent). */
async function scrape(adminUrl: string, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("a Verdict started while its database is down", () => {
  let dbpath: string;
  let port: number;
  let database: MongoServerProcess | undefined;
  let t: TestVerdict;
  const captured = captureLog();

  beforeAll(async () => {
    dbpath = mkdtempSync(join(tmpdir(), "verdict-health-"));
    port = await freePort();
    // Nothing listens on the port yet; a short state_timeout_ms (the default is 500) so state fails closed fast.
    t = await startTestVerdict({
      mongoUri: `mongodb://127.0.0.1:${port}/`,
      log: captured.log,
      config: { bundle: statePolicy, state_timeout_ms: 50 },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await database?.stop();
    rmSync(dbpath, { recursive: true, force: true });
  });

  it("is alive but not ready (the database was never reached) on /readyz and gRPC health, and fails closed on state", async () => {
    const url = t.verdict.adminUrl;
    expect(await healthz(url)).toBe(200);
    expect(await readyz(url)).toEqual({
      status: 503,
      body: { status: "not_ready", checks: { bundle: true, database: false, audit: true, suspensions: false, serving: true } },
    });
    expect(await grpcHealth(t.address)).toBe("NOT_SERVING");
    expect(await grpcHealth(t.address, "verdict.v1.PolicyDecisionService")).toBe("NOT_SERVING");

    const token = await t.issuer.token({ sub: "early-user" });
    expect(await t.client.check({ token, action: "transfer", context: { amount: 1 } })).toMatchObject({
      decision: "DENY",
      reasons: [{ code: "state_unavailable" }],
    });
    // What needs no state is still decided.
    expect((await t.client.check({ token, action: "read" })).decision).toBe("ALLOW");
  });

  it("connects in the background once the database comes up: ready, SERVING, state decided, the records made meanwhile written", async () => {
    const token = await t.issuer.token({ sub: "early-user" });
    const early = await t.client.check({ token, action: "transfer", context: { amount: 1 } });
    expect(early.reasons[0]?.code).toBe("state_unavailable");

    database = await startLocalMongo({ dbpath, port });
    await vi.waitFor(async () => expect((await readyz(t.verdict.adminUrl)).status).toBe(200), { timeout: 30_000, interval: 250 });
    expect((await readyz(t.verdict.adminUrl)).body.checks).toEqual({ bundle: true, database: true, audit: true, suspensions: true, serving: true });
    await vi.waitFor(async () => expect(await grpcHealth(t.address)).toBe("SERVING"), { timeout: 5_000, interval: 100 });
    expect(captured.lines().some((line) => line["msg"] === "database reached")).toBe(true);

    let decided: Awaited<ReturnType<typeof t.client.check>> | undefined;
    await vi.waitFor(
      async () => {
        decided = await t.client.check({ token, action: "transfer", context: { amount: 300 } });
        expect(decided.decision).toBe("ALLOW");
      },
      { timeout: 20_000, interval: 200 },
    );
    expect(decided?.obligations).toMatchObject([{ total: 300 }]);

    // The record of the denial made while the database was down reaches the trail.
    const client = new MongoClient(database.uri);
    try {
      await vi.waitFor(
        async () =>
          expect(
            await client
              .db(t.database)
              .collection("decisions")
              .findOne({ _id: early.decision_id as never }),
          ).toMatchObject({ decision: "DENY" }),
        { timeout: 20_000, interval: 250 },
      );
    } finally {
      await client.close();
    }
    // Held in memory or spilled and replayed (Verdict serves before its first audit write could fail): none lost or refused.
    expect(t.verdict.audit?.stats()).toMatchObject({ refused: 0, rejected: 0, lost: 0 });
  });

  it("stays ready through a later outage, saying so in metrics and logs, and denies state decisions meanwhile", async () => {
    const url = t.verdict.adminUrl;
    expect(await scrape(url, "verdict_database_up")).toBe(1);
    await database?.stop();
    database = undefined;
    const token = await t.issuer.token({ sub: "outage-user" });
    expect((await t.client.check({ token, action: "transfer", context: { amount: 1 } })).reasons[0]?.code).toBe("state_unavailable");
    // Seen within the driver's check of an idle server (every 2 s), not its default 10 s.
    await vi.waitFor(async () => expect(await scrape(url, "verdict_database_up")).toBe(0), { timeout: 10_000, interval: 250 });
    expect(captured.lines().some((line) => String(line["msg"]).startsWith("database unreachable"))).toBe(true);
    // Every replica shares the database: taking them all out of service would turn a stateful outage into a total one.
    expect((await readyz(url)).status).toBe(200);
    expect(await grpcHealth(t.address)).toBe("SERVING");
    expect((await t.client.check({ token, action: "read" })).decision).toBe("ALLOW");

    database = await startLocalMongo({ dbpath, port });
    await vi.waitFor(async () => expect(await scrape(url, "verdict_database_up")).toBe(1), { timeout: 10_000, interval: 250 });
    expect(captured.lines().some((line) => line["msg"] === "database reachable again")).toBe(true);
  });

  it("is not ready while the audit trail can keep a record neither in memory nor in its spill file", async () => {
    // A separate Verdict whose buffer holds one record, with the database gone and its spill directory replaced by a file.
    const spill = mkdtempSync(join(tmpdir(), "verdict-health-spill-"));
    const a = await startTestVerdict({
      mongoUri: database!.uri,
      config: { bundle: statePolicy, state_timeout_ms: 50, audit: { spill_dir: spill, max_buffered: 1 } },
    });
    try {
      await vi.waitFor(async () => expect((await readyz(a.verdict.adminUrl)).status).toBe(200), { timeout: 20_000, interval: 250 });
      await database?.stop();
      database = undefined;
      const dir = join(spill, a.database);
      renameSync(dir, `${dir}.away`);
      writeFileSync(dir, "not a directory"); // even root cannot append to a file inside it
      const token = await a.issuer.token({ sub: "audit-user" });
      await a.client.check({ token, action: "read" });
      await vi.waitFor(async () => expect(await readyz(a.verdict.adminUrl)).toMatchObject({ status: 503, body: { checks: { audit: false } } }), {
        timeout: 30_000,
        interval: 250,
      });
      // gRPC health follows readiness within its watch interval (250 ms).
      await vi.waitFor(async () => expect(await grpcHealth(a.address)).toBe("NOT_SERVING"), { timeout: 5_000, interval: 100 });
      expect((await a.client.check({ token, action: "read" })).reasons[0]?.code).toBe("audit_unavailable");

      rmSync(dir);
      renameSync(`${dir}.away`, dir);
      await vi.waitFor(async () => expect((await readyz(a.verdict.adminUrl)).status).toBe(200), { timeout: 30_000, interval: 250 });
    } finally {
      await a.stop();
      rmSync(spill, { recursive: true, force: true });
    }
  });
});

describe("a Verdict loading its bundle", () => {
  it("answers /healthz and says not ready (no bundle yet) until the bundle has loaded", async () => {
    // A named pipe: loading blocks until the test writes the bundle into it.
    const dir = mkdtempSync(join(tmpdir(), "verdict-health-fifo-"));
    const fifo = join(dir, "bundle.tar.gz");
    execFileSync("mkfifo", [fifo]);
    const adminPort = await freePort();
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const starting = startTestVerdict({ config: { bundle: fifo, bundle_watch: false, admin_listen: `127.0.0.1:${adminPort}` } });
    let t: TestVerdict | undefined;
    try {
      await vi.waitFor(async () => expect(await healthz(adminUrl)).toBe(200), { timeout: 20_000, interval: 100 });
      // (the database connects while the bundle loads: it may already have been reached)
      expect(await readyz(adminUrl)).toMatchObject({
        status: 503,
        body: { status: "not_ready", checks: { bundle: false, audit: false, suspensions: false, serving: false } },
      });

      await writeFile(fifo, readFileSync(inject("bundlePath")));
      t = await starting;
      await vi.waitFor(async () => expect((await readyz(adminUrl)).status).toBe(200), { timeout: 20_000, interval: 100 });
      expect(await grpcHealth(t.address)).toBe("SERVING");
    } finally {
      await (t ?? (await starting.catch(() => undefined)))?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a Verdict shutting down", () => {
  it("is not ready from the first moment, on /readyz and gRPC health, while it finishes the calls in flight", async () => {
    const t = await startTestVerdict({ config: { bundle: await buildFixtureBundle("misbehaving-policy") } });
    await vi.waitFor(async () => expect(await grpcHealth(t.address)).toBe("SERVING"), { timeout: 20_000, interval: 100 });
    // A load balancer's watch, open before the shutdown (a stopping server takes no new connections).
    const watch = watchGrpcHealth(t.address);
    await vi.waitFor(() => expect(watch.statuses).toEqual(["SERVING"]), { timeout: 5_000, interval: 50 });
    const token = await t.issuer.token({});
    // Runs until the policy time bound (policy_timeout_ms): a call in flight when the shutdown starts.
    const inFlight = t.client.check({ token, action: "spin" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopping = t.verdict.stop();
    try {
      expect(await readyz(t.verdict.adminUrl)).toMatchObject({ status: 503, body: { checks: { serving: false } } });
      expect(await healthz(t.verdict.adminUrl)).toBe(200);
      await vi.waitFor(() => expect(watch.statuses.at(-1)).toBe("NOT_SERVING"), { timeout: 5_000, interval: 50 });
      expect((await inFlight).reasons[0]?.code).toBe("policy_error");
    } finally {
      await stopping;
      watch.close();
      t.client.close();
    }
  });
});
