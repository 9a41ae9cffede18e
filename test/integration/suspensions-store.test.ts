// Suspensions on a real database, as two replicas following it by poll: a change is
// written, recorded in the audit trail, and announced (the version bumped). When the
// announcement fails after the write landed, the change is still recorded once, and
// making the same request again announces it, so the other replica follows.
import { randomUUID } from "node:crypto";
import type { Collection, Document } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/index.js";
import { Database, type CollectionDef } from "../../src/database/index.js";
import { ANNOUNCE_RETRY_MS, Suspensions, suspensionsSchema, type SuspendRequest } from "../../src/suspensions/index.js";
import type { Principal } from "../../src/token/index.js";
import { captureLog } from "../support/log.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const logged = captureLog();
const name = uniqueDatabaseName("suspensions_store");
const poll = suspensionsSchema().parse({ follow: "poll" });
/** The propagation bound in poll mode (docs/suspensions.md): within a second. */
const PROPAGATION_MS = 1_000;

let databaseA: Database;
let databaseB: Database;
let a: Suspensions;
let b: Suspensions;
const events: AuditEvent[] = [];
let bumpsToFail = 0;
/** Suspension writes of replica A that land and then fail (their answer lost: a timeout after the server took them). */
let writesToLose = 0;
/** Version bumps replica A asked for (failed or not). */
let bumps = 0;

/** The database as replica A sees it: its version bumps fail while bumpsToFail is above 0 (the write before them lands). */
function failingBumps(database: Database): Database {
  const failing = <T extends Document>(collection: Collection<T>): Collection<T> =>
    new Proxy(collection, {
      get(target, property) {
        if (property === "updateOne") bumps += 1;
        if (property === "updateOne" && bumpsToFail > 0) {
          bumpsToFail -= 1;
          return () => Promise.reject(new Error("injected: the version bump failed"));
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  const losing = <T extends Document>(collection: Collection<T>): Collection<T> =>
    new Proxy(collection, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (property === "insertOne" && writesToLose > 0) {
          writesToLose -= 1;
          return async (...args: unknown[]) => {
            await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            throw new Error("injected: the write landed, its answer was lost");
          };
        }
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  return new Proxy(database, {
    get(target, property) {
      if (property === "collection") {
        return <T extends Document>(def: CollectionDef<T>) =>
          def.name === "suspensions_version"
            ? failing(target.collection(def))
            : def.name === "suspensions"
              ? losing(target.collection(def))
              : target.collection(def);
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

beforeAll(async () => {
  databaseA = Database.open({ uri: mongoUri(), database: name, log: logged.log });
  databaseB = Database.open({ uri: mongoUri(), database: name, log: logged.log });
  a = new Suspensions({ database: failingBumps(databaseA), settings: poll, log: logged.log, events: { recordEvent: (e) => events.push(e) > 0 } });
  b = new Suspensions({ database: databaseB, settings: poll, log: logged.log });
  expect(await Promise.all([a.start(10_000), b.start(10_000)])).toEqual([true, true]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all([databaseA?.close(), databaseB?.close()]);
});

function agentPrincipal(clientId: string): Principal {
  const issuedAt = Math.floor(Date.now() / 1_000);
  return {
    subject: "svc",
    clientId,
    clientType: "ai-agent",
    actors: [],
    delegationDepth: 0,
    scopes: [],
    issuer: "https://issuer.test.example",
    issuedAt,
    expiresAt: issuedAt + 3_600,
    audience: [],
  };
}

const decided = (replica: Suspensions, principal: Principal) => {
  const verdict = replica.check(principal, Date.now(), {});
  return verdict?.outcome === "deny" ? verdict.reason.code : "allowed";
};

describe("a change whose announcement failed", () => {
  it("a suspension is recorded once, and reaches the replica following by poll when it is made again", async () => {
    const agent = `agent-${randomUUID()}`;
    const principal = agentPrincipal(agent);
    const request: SuspendRequest = { target: { kind: "agent", client_id: agent }, reason: "loops on refunds", by: { via: "grpc" }, source: "admin" };

    bumpsToFail = 1;
    await expect(a.add(request)).rejects.toMatchObject({ code: "state_unavailable" });
    expect(bumpsToFail).toBe(0);
    // Written, and in A's own view; B, polling a version that did not move, does not know.
    expect(decided(a, principal)).toBe("principal_suspended");
    // (within the background retry's first wait, ANNOUNCE_RETRY_MS)
    await new Promise((resolve) => setTimeout(resolve, 2 * poll.poll_interval_ms));
    expect(decided(b, principal)).toBe("allowed");

    // The operator (or the transmitter) makes the same request again.
    expect((await a.add(request)).status).toBe("already_suspended");
    await expect.poll(() => decided(b, principal), { timeout: PROPAGATION_MS, interval: 25 }).toBe("principal_suspended");
    expect(events.filter((e) => e.target["client_id"] === agent).map((e) => e.action)).toEqual(["suspended"]);
  });

  it("a resume is recorded once, and reaches the replica following by poll when it is made again", async () => {
    const agent = `agent-${randomUUID()}`;
    const principal = agentPrincipal(agent);
    const target = { kind: "agent", client_id: agent } as const;
    await a.add({ target, reason: "loops on refunds", by: { via: "grpc" }, source: "admin" });
    await expect.poll(() => decided(b, principal), { timeout: PROPAGATION_MS, interval: 25 }).toBe("principal_suspended");

    bumpsToFail = 1;
    await expect(a.remove({ target, reason: "fixed", by: { via: "grpc" } })).rejects.toMatchObject({ code: "state_unavailable" });
    expect(decided(a, principal)).toBe("allowed");
    // A resume of what is already lifted answers nothing, and tells the replicas all the same.
    expect(await a.remove({ target, reason: "fixed", by: { via: "grpc" } })).toEqual([]);
    await expect.poll(() => decided(b, principal), { timeout: PROPAGATION_MS, interval: 25 }).toBe("allowed");
    expect(events.filter((e) => e.target["client_id"] === agent).map((e) => e.action)).toEqual(["suspended", "resumed"]);
  });
});

describe("a policy's brake", () => {
  it("is announced when it suspends, not each time it fires again for the same principal", async () => {
    const agent = `agent-${randomUUID()}`;
    const brake = { target: { kind: "agent", client_id: agent } as const, seconds: 600, reason: "20 denials a minute", api: "invoices-api" };
    const before = bumps;
    expect(await a.suspend({ ...brake, decisionId: randomUUID(), nowMs: Date.now() })).toBe("suspended");
    for (let i = 0; i < 5; i++) expect(await a.suspend({ ...brake, decisionId: randomUUID(), nowMs: Date.now() })).toBe("already_suspended");
    expect(bumps - before).toBe(1);
    await expect.poll(() => decided(b, agentPrincipal(agent)), { timeout: PROPAGATION_MS, interval: 25 }).toBe("principal_suspended");
  });
});

describe("a policy's brake whose announcement failed", () => {
  it("reaches the replica following by poll without being made again: the announcement is tried again in the background", async () => {
    const agent = `agent-${randomUUID()}`;
    const brake = { target: { kind: "agent", client_id: agent } as const, seconds: 600, reason: "20 denials a minute", api: "invoices-api" };
    bumpsToFail = 1;
    await expect(a.suspend({ ...brake, decisionId: randomUUID(), nowMs: Date.now() })).rejects.toMatchObject({ code: "state_unavailable" });
    expect(decided(a, agentPrincipal(agent))).toBe("principal_suspended");
    // nobody makes it again (a brake's repeats are not announced, and no person asked for it)
    await expect.poll(() => decided(b, agentPrincipal(agent)), { timeout: ANNOUNCE_RETRY_MS + PROPAGATION_MS, interval: 25 }).toBe("principal_suspended");
  });
});

describe("a policy's brake whose write landed but whose answer was lost", () => {
  it("reaches the replica following by poll all the same: announced in the background in case it landed", async () => {
    const agent = `agent-${randomUUID()}`;
    const brake = { target: { kind: "agent", client_id: agent } as const, seconds: 600, reason: "20 denials a minute", api: "invoices-api" };
    writesToLose = 1;
    await expect(a.suspend({ ...brake, decisionId: randomUUID(), nowMs: Date.now() })).rejects.toThrow();
    expect(writesToLose).toBe(0);
    await expect.poll(() => decided(b, agentPrincipal(agent)), { timeout: ANNOUNCE_RETRY_MS + PROPAGATION_MS, interval: 25 }).toBe("principal_suspended");
  });
});

describe("the same suspension made again", () => {
  it("a little later is a duplicate, not an extension by seconds; more than a minute longer extends it", async () => {
    const agent = `agent-${randomUUID()}`;
    const request: SuspendRequest = { target: { kind: "agent", client_id: agent }, reason: "r", by: { via: "grpc" }, source: "admin", seconds: 3_600 };
    const now = Date.now();
    expect((await a.add(request, now)).status).toBe("suspended");
    expect((await a.add(request, now + 30_000)).status).toBe("already_suspended");
    expect((await a.add(request, now + 61_000)).status).toBe("extended");
  });
});
