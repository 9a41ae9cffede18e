// The kill switch's bound: from a Suspend call returning to every one of three
// Verdict processes on one database denying, at most one second; the same for
// Resume. Measured twice: on a server with change streams (local-mongo --oplog,
// like a replica set) and on one without (the versioned poll). A process started
// after the suspension denies from its first Check (it loads the set before ready).
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startLocalMongo, type MongoServerProcess } from "../../src/dev/index.js";
import { hashApiKey } from "../../src/server/index.js";
import { ok, TestAdminClient } from "../support/admin.js";
import { serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "../support/issuer.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const PROCESSES = 3;
const BOUND_MS = 1_000;
const API_KEY = "propagation-key";

interface Fleet {
  servers: ServingVerdict[];
  clients: TestClient[];
  admin: TestAdminClient;
  config: string;
}

const children: ChildProcess[] = [];
const closers: (() => void | Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await Promise.all(children.map(stopProcess));
});

async function fleet(issuer: TestIssuer, uri: string): Promise<Fleet> {
  const config = join(mkdtempSync(join(tmpdir(), "verdict-propagation-")), "verdict.json");
  writeFileSync(
    config,
    JSON.stringify({
      listen: "127.0.0.1:0",
      issuers: [{ issuer: issuer.issuer, jwks_file: issuer.jwksPath, algorithms: [issuer.alg] }],
      apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(API_KEY), scopes: [...TEST_SCOPES], grants: ["suspensions"] }],
      bundle: inject("bundlePath"),
      mongodb_uri: uri,
      mongodb_database: uniqueDatabaseName("propagation"),
      log_level: "info",
      // one process per verdict serve, so that each client talks to one process and its metrics are its own
      processes: 1,
    }),
  );
  const servers = await Promise.all(Array.from({ length: PROCESSES }, () => serveVerdict(["--config", config])));
  children.push(...servers.map((s) => s.child));
  const clients = servers.map((s) => new TestClient(s.address, API_KEY));
  const admin = new TestAdminClient((servers[0] as ServingVerdict).address, API_KEY);
  closers.push(() => {
    for (const client of clients) client.close();
    admin.close();
  });
  return { servers, clients, admin, config };
}

/** Milliseconds from `since` until each client's Check gives `want`, asking again at once. */
async function untilEach(clients: TestClient[], token: string, want: "DENY" | "ALLOW", since: number): Promise<number[]> {
  return Promise.all(
    clients.map(async (client) => {
      for (;;) {
        const answer = await client.check({ token, action: "invoices:read" });
        if (answer.decision === want) return Date.now() - since;
        if (Date.now() - since > 10_000) throw new Error(`still ${answer.decision} after 10 s`);
      }
    }),
  );
}

async function metric(server: ServingVerdict, name: string): Promise<number> {
  const text = await (await fetch(`${server.adminUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1]);
}

async function proveBound(f: Fleet, issuer: TestIssuer): Promise<void> {
  const agent = `agent-${randomUUID()}`;
  const token = await issuer.token({ client_id: agent, client_type: "ai-agent" });
  expect(await untilEach(f.clients, token, "ALLOW", Date.now())).toHaveLength(PROCESSES);

  ok(await f.admin.suspend({ target: { kind: "agent", client_id: agent }, reason: "propagation" }));
  const suspendedAt = Date.now();
  const denying = await untilEach(f.clients, token, "DENY", suspendedAt);
  expect(Math.max(...denying)).toBeLessThanOrEqual(BOUND_MS);

  ok(await f.admin.resume({ target: { kind: "agent", client_id: agent } }));
  const resumedAt = Date.now();
  const allowing = await untilEach(f.clients, token, "ALLOW", resumedAt);
  expect(Math.max(...allowing)).toBeLessThanOrEqual(BOUND_MS);
}

// Each fleet starts in beforeAll (processes take seconds to start on a busy machine); the tests measure only.
describe(`across ${PROCESSES} Verdict processes on one database, with change streams (local-mongo --oplog)`, () => {
  let issuer: TestIssuer;
  let f: Fleet;
  beforeAll(async () => {
    const mongo: MongoServerProcess = await startLocalMongo({ oplog: true });
    closers.unshift(() => mongo.stop());
    issuer = await createTestIssuer();
    f = await fleet(issuer, mongo.uri);
  });

  it("every process denies within a second of Suspend returning, and allows within a second of Resume", async () => {
    for (const server of f.servers) expect(await metric(server, "verdict_suspensions_change_stream")).toBe(1);
    await proveBound(f, issuer);
  });
});

describe(`across ${PROCESSES} Verdict processes on one database, without change streams (the versioned poll)`, () => {
  let issuer: TestIssuer;
  let f: Fleet;
  beforeAll(async () => {
    issuer = await createTestIssuer();
    f = await fleet(issuer, mongoUri());
  });

  it("the same bound", async () => {
    for (const server of f.servers) expect(await metric(server, "verdict_suspensions_change_stream")).toBe(0);
    await proveBound(f, issuer);
  });

  it("a process started after a suspension loads it before it serves", async () => {
    const agent = `agent-${randomUUID()}`;
    ok(await f.admin.suspend({ target: { kind: "agent", client_id: agent }, reason: "cold start" }));
    const late = await serveVerdict(["--config", f.config]);
    children.push(late.child);
    const client = new TestClient(late.address, API_KEY);
    closers.push(() => client.close());
    const first = await client.check({ token: await issuer.token({ client_id: agent, client_type: "ai-agent" }), action: "invoices:read" });
    expect(first.reasons.map((r) => r.code)).toEqual(["principal_suspended"]);
  });
});
