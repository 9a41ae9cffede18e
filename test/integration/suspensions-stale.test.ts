// When the database stops answering, each replica's suspension view goes stale
// after suspensions.stale_after_ms (default 5 s): it keeps enforcing what it knows,
// counts and reports the staleness, and with when_stale: deny_all denies every
// Check (state_unavailable) until a refresh succeeds again. Real local-mongo,
// stopped and restarted on its data directory and port.
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalMongo, type MongoServerProcess } from "../../src/dev/index.js";
import { hashApiKey } from "../../src/server/index.js";
import { ok, TestAdminClient } from "../support/admin.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "../support/issuer.js";
import { captureLog, type CapturedLog } from "../support/log.js";
import { freePort } from "../support/mongo-servers.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const STALE_AFTER_MS = 5_000; // the default

let mongo: MongoServerProcess;
let dbpath: string;
let port: number;
let issuer: TestIssuer;
let enforcing: TestVerdict;
let denying: TestVerdict;
const logged: CapturedLog = captureLog();
const database = `verdict_stale_${randomUUID().slice(0, 8)}`;

const start = (whenStale?: "deny_all") =>
  startTestVerdict({
    issuer,
    mongoUri: mongo.uri,
    apiKey: "stale-key",
    ...(whenStale ? { log: logged.log } : {}),
    config: {
      mongodb_database: database,
      apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey("stale-key"), scopes: [...TEST_SCOPES], grants: ["suspensions"] }],
      ...(whenStale ? { suspensions: { when_stale: whenStale } } : {}),
    },
  });

beforeAll(async () => {
  dbpath = mkdtempSync(join(tmpdir(), "verdict-stale-"));
  port = await freePort();
  mongo = await startLocalMongo({ dbpath, port });
  issuer = await createTestIssuer();
  [enforcing, denying] = await Promise.all([start(), start("deny_all")]);
});
afterAll(async () => {
  await enforcing?.stop();
  await denying?.stop();
  await mongo?.stop();
});

async function metric(t: TestVerdict, name: string): Promise<number> {
  const text = await (await fetch(`${t.verdict.adminUrl}/metrics`)).text();
  return Number(
    text
      .split("\n")
      .find((l) => l.startsWith(`${name} `))
      ?.split(" ")[1],
  );
}

const codes = async (client: TestClient, token: string) => (await client.check({ token, action: "invoices:read" })).reasons.map((r) => r.code);

describe("a stale suspension view", () => {
  it("keeps enforcing what it knows; with deny_all it denies everyone else until it is fresh again", async () => {
    const agent = `agent-${randomUUID()}`;
    const suspended = await issuer.token({ client_id: agent, client_type: "ai-agent" });
    // A person's read needs no state, so only the suspensions stage can deny it while the database is down.
    const person = await issuer.token({ sub: `user-${randomUUID()}`, client_type: "web" });
    const admin = new TestAdminClient(enforcing.address, "stale-key");
    ok(await admin.suspend({ target: { kind: "agent", client_id: agent }, reason: "stale test" }));
    admin.close();
    for (const t of [enforcing, denying]) {
      await expect.poll(() => codes(t.client, suspended), { timeout: 1_000 }).toEqual(["principal_suspended"]);
      expect(await codes(t.client, person)).toEqual([]);
      expect(await metric(t, "verdict_suspensions_view_stale")).toBe(0);
    }

    await mongo.stop();
    await new Promise((resolve) => setTimeout(resolve, STALE_AFTER_MS + 1_500));
    for (const t of [enforcing, denying]) {
      expect(await metric(t, "verdict_suspensions_view_stale")).toBe(1);
      expect(await metric(t, "verdict_suspensions_stale_total")).toBe(1);
      expect(await codes(t.client, suspended)).toEqual(["principal_suspended"]);
    }
    expect(await codes(enforcing.client, person)).toEqual([]);
    expect(await codes(denying.client, person)).toEqual(["state_unavailable"]);
    expect(logged.lines().filter((line) => line["level"] === 50 && String(line["msg"]).startsWith("the suspension view is stale"))).toHaveLength(1);

    mongo = await startLocalMongo({ dbpath, port });
    await expect.poll(() => codes(denying.client, person), { timeout: 15_000, interval: 250 }).toEqual([]);
    expect(await metric(denying, "verdict_suspensions_view_stale")).toBe(0);
    expect(await codes(denying.client, suspended)).toEqual(["principal_suspended"]);
    expect(logged.lines().some((line) => line["msg"] === "the suspension view is fresh again")).toBe(true);
  });
});
