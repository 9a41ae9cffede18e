// The Shared Signals receiver on a real database, with the clock in the test's
// hands: SETs signed by a test transmitter's key become suspensions, and the order
// of the identity provider's events decides, not the order they arrive in. A later
// credential change revokes the tokens issued since the first one; an account-enabled
// older than the account-disabled it would lift (a retry after a 503) changes nothing.
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { AuditEvent } from "../../src/audit/index.js";
import { Database, defineCollection } from "../../src/database/index.js";
import { CAEP, CALL_MS, CLAIM_MS, RISC, ssfSchema, SsfReceiver, type SsfConfig, type SsfReceiverOptions } from "../../src/ssf/index.js";
import { Suspensions, suspensionsSchema } from "../../src/suspensions/index.js";
import type { Principal } from "../../src/token/index.js";
import { captureLog } from "../support/log.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const TRANSMITTER = "https://idp.test.example";
const RECEIVER = "https://verdict.test.example/ssf";
const TOKEN_ISSUER = "https://issuer.test.example";

const logged = captureLog();
const events: AuditEvent[] = [];
/** The test's clock (ms), whole seconds, as SETs carry them. */
let clock = Math.floor(Date.now() / 1_000) * 1_000;
let database: Database;
let suspensions: Suspensions;
let receiver: SsfReceiver;
let settings: SsfConfig;
let signingKey: CryptoKey;
let kid: string;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  kid = await calculateJwkThumbprint(jwk);
  signingKey = privateKey;
  const dir = mkdtempSync(join(tmpdir(), "verdict-ssf-receiver-"));
  writeFileSync(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...jwk, kid, alg: "ES256", use: "sig" }] }));
  settings = ssfSchema({ baseDir: dir, env: {} }).parse({
    transmitters: [{ name: "idp", issuer: TRANSMITTER, jwks_file: "jwks.json", audience: RECEIVER, token_issuer: TOKEN_ISSUER }],
  });
  database = Database.open({ uri: mongoUri(), database: uniqueDatabaseName("ssf_receiver"), log: logged.log });
  const now = () => clock;
  suspensions = new Suspensions({
    database,
    settings: suspensionsSchema().parse({}),
    log: logged.log,
    now,
    events: { recordEvent: (e) => events.push(e) > 0 },
  });
  expect(await suspensions.start(10_000)).toBe(true);
  receiver = new SsfReceiver({ settings, database, suspensions: () => suspensions, log: logged.log, now });
});
afterAll(async () => {
  await suspensions?.close();
  await database?.close();
});

/** A SET of one event about `sub`, issued (iat) at `iatMs`, with the event's own claims. */
function sign(type: string, sub: string, iatMs: number, event: Record<string, unknown> = {}, jti = randomUUID()): Promise<string> {
  const payload = {
    iss: TRANSMITTER,
    aud: RECEIVER,
    iat: iatMs / 1_000,
    jti,
    events: { [type]: { subject: { format: "iss_sub", iss: TOKEN_ISSUER, sub }, ...event } },
  };
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid, typ: "secevent+jwt" }).sign(signingKey);
}

/** Pushes a SET of one event about `sub`, issued (iat) at `iatMs`, with the event's own claims. */
async function push(type: string, sub: string, iatMs: number, event: Record<string, unknown> = {}): Promise<number> {
  return (await receiver.receive("application/secevent+jwt", await sign(type, sub, iatMs, event))).status;
}

/** What a Check of a token of `sub` issued at `issuedAtMs` meets at the suspension stage, now. */
function decided(sub: string, issuedAtMs: number): string {
  const principal: Principal = {
    subject: sub,
    clientId: "agent-7",
    clientType: "ai-agent",
    actors: [],
    delegationDepth: 0,
    scopes: [],
    issuer: TOKEN_ISSUER,
    issuedAt: issuedAtMs / 1_000,
    expiresAt: issuedAtMs / 1_000 + 3_600,
    audience: [],
  };
  const verdict = suspensions.check(principal, clock, {});
  return verdict?.outcome === "deny" ? verdict.reason.code : "allowed";
}

const actionsFor = (sub: string) => events.filter((e) => e.target["subject"] === sub).map((e) => e.action);

describe("revocations from Shared Signals", () => {
  it("a second credential change revokes the tokens issued since the first, as an extended event", async () => {
    const alice = `alice-${randomUUID()}`;
    const t0 = clock;
    expect(await push(`${CAEP}credential-change`, alice, t0, { credential_type: "password", change_type: "update" })).toBe(202);
    // Issued after the first change (an attacker's login with the old credential), before the second.
    const between = t0 + 10_000;
    expect(decided(alice, between)).toBe("allowed");

    clock = t0 + 30_000;
    expect(await push(`${CAEP}credential-change`, alice, clock, { credential_type: "password", change_type: "update" })).toBe(202);
    expect(decided(alice, between)).toBe("principal_suspended");
    expect(decided(alice, clock + 1_000)).toBe("allowed");
    expect(actionsFor(alice)).toEqual(["suspended", "extended"]);
    const [held] = (await suspensions.list({ kind: "user" })).filter((s) => s.target.subject === alice);
    expect(held?.issued_before?.getTime()).toBe(t0 + 31_000);
    // It holds revocation_seconds (the default, a day) from the later change.
    expect(held?.expires_at?.getTime()).toBe(t0 + 30_000 + 86_400_000);
  });
});

describe("account-enabled", () => {
  it("leaves a suspension made by a later account-disabled, and lifts it once it is later itself", async () => {
    const bob = `bob-${randomUUID()}`;
    const t = clock;
    const issued = t - 60_000;
    clock = t + 15_000;
    expect(await push(`${RISC}account-disabled`, bob, t + 10_000, { event_timestamp: (t + 10_000) / 1_000 })).toBe(202);
    expect(decided(bob, issued)).toBe("principal_suspended");

    // An enable of before the disable, delivered again after a 503: acknowledged, and nothing resumed.
    clock = t + 16_000;
    expect(await push(`${RISC}account-enabled`, bob, t, { event_timestamp: t / 1_000 })).toBe(202);
    expect(decided(bob, issued)).toBe("principal_suspended");
    expect(actionsFor(bob)).toEqual(["suspended"]);
    const kept = logged.lines().filter((line) => String(line["msg"]).startsWith("suspension not resumed") && line["source"] === "ssf:idp:account-disabled");
    expect(kept.at(-1)).toMatchObject({ eventAt: new Date(t + 10_000).toISOString(), resumingEventAt: new Date(t).toISOString() });

    clock = t + 21_000;
    expect(await push(`${RISC}account-enabled`, bob, t + 20_000, { event_timestamp: (t + 20_000) / 1_000 })).toBe(202);
    expect(decided(bob, issued)).toBe("allowed");
    expect(actionsFor(bob)).toEqual(["suspended", "resumed"]);
  });

  it("leaves a suspension a second, later account-disabled renewed, though the first was before it", async () => {
    const carol = `carol-${randomUUID()}`;
    const t = clock;
    const issued = t - 60_000;
    clock = t + 30_000;
    expect(await push(`${RISC}account-disabled`, carol, t, { event_timestamp: t / 1_000 })).toBe(202);
    expect(await push(`${RISC}account-disabled`, carol, t + 20_000, { event_timestamp: (t + 20_000) / 1_000 })).toBe(202);
    expect(await push(`${RISC}account-enabled`, carol, t + 10_000, { event_timestamp: (t + 10_000) / 1_000 })).toBe(202);
    expect(decided(carol, issued)).toBe("principal_suspended");
    expect(actionsFor(carol)).toEqual(["suspended", "extended"]);
  });
});

/**
 * The receiver of a Verdict whose suspensions' add is `add` (the real one when it returns undefined): a
 * write the database did not answer, or one that waits for the test.
 */
function receiverWith(
  add: (real: () => ReturnType<Suspensions["add"]>, request: Parameters<Suspensions["add"]>[0]) => ReturnType<Suspensions["add"]>,
  db: Database = database,
  more: Partial<SsfReceiverOptions> = {},
): SsfReceiver {
  const gated = new Proxy(suspensions, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property === "add") return (...args: Parameters<Suspensions["add"]>) => add(() => target.add(...args), args[0]);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return new SsfReceiver({ settings, database: db, suspensions: () => gated, log: logged.log, now: () => clock, ...more });
}
const unanswered = (): ReturnType<Suspensions["add"]> => Promise.reject(new Error("the suspensions database did not answer (the test)"));
const deliver = (via: SsfReceiver, set: string) => via.receive("application/secevent+jwt", set);
/** The test's database, but for its first `refusals` tries to record a SET as applied: they fail. */
function marksRefused(refusals: number): Database {
  let left = refusals;
  return databaseWith("updateOne", (real, _filter, update) =>
    (update as { $set?: { applied?: boolean } }).$set?.applied === true && left-- > 0
      ? Promise.reject(new Error("the database did not answer (the test)"))
      : real(),
  );
}

const BEING_APPLIED = {
  status: 503,
  body: { err: "temporarily_unavailable", description: "this SET is being applied by another delivery; deliver again if it fails" },
};
const REPLAYED = { status: 400, body: { err: "invalid_request", description: "this SET (its jti) was already received" } };

describe("a SET that was not applied", () => {
  it("is applied by the transmitter's next delivery when applying it failed, and only once", async () => {
    const dave = `dave-${randomUUID()}`;
    let failing = true;
    const flaky = receiverWith((real) => (failing ? unanswered() : real()));
    const set = await sign(`${RISC}account-disabled`, dave, clock);
    expect((await deliver(flaky, set)).status).toBe(503);
    expect(decided(dave, clock - 60_000)).toBe("allowed");

    failing = false;
    expect((await deliver(flaky, set)).status).toBe(202);
    expect(decided(dave, clock - 60_000)).toBe("principal_suspended");
    expect(await deliver(receiver, set)).toEqual(REPLAYED);
    expect(actionsFor(dave)).toEqual(["suspended"]);
  });

  it(`is applied by a delivery ${CLAIM_MS / 1_000} s after one that claimed it and never finished (its process stopped), and not before`, async () => {
    const erin = `erin-${randomUUID()}`;
    const jti = randomUUID();
    const set = await sign(`${RISC}account-disabled`, erin, clock, {}, jti);
    // What a delivery leaves when its process stops between taking the jti and applying the SET.
    const received = database.collection(
      defineCollection<{ _id: string; expires_at: Date; applied: boolean; claimed_at: Date; claim: string }>({
        name: "ssf_received",
        indexes: [],
        expiresAt: "expires_at",
      }),
    );
    await received.insertOne({ _id: `idp\n${jti}`, expires_at: new Date(clock + 86_400_000), applied: false, claimed_at: new Date(clock), claim: "stopped" });

    expect(await deliver(receiver, set)).toEqual(BEING_APPLIED);
    clock += CLAIM_MS - 1_000;
    expect(await deliver(receiver, set)).toEqual(BEING_APPLIED);
    expect(decided(erin, clock - 60_000)).toBe("allowed");
    clock += 1_000;
    expect((await deliver(receiver, set)).status).toBe(202);
    expect(decided(erin, clock - 60_000)).toBe("principal_suspended");
    expect(await deliver(receiver, set)).toEqual(REPLAYED);
  });

  it("lets go only of its own claim: one whose apply fails after another delivery took the SET over leaves that one applying it", async () => {
    const frank = `frank-${randomUUID()}`;
    const set = await sign(`${RISC}account-disabled`, frank, clock);
    // A's apply waits (a slow database) past the claim's time; B takes the SET over, and waits too.
    const waits: ((error: Error) => void)[] = [];
    const slow = receiverWith(() => new Promise<never>((_, reject) => waits.push(reject)));
    const a = deliver(slow, set);
    await vi.waitFor(() => expect(waits).toHaveLength(1));
    clock += CLAIM_MS;
    const b = deliver(slow, set);
    await vi.waitFor(() => expect(waits).toHaveLength(2));
    // A fails: B's claim stands, so a third delivery is told it is being applied (until 2026-12-07 A's release let it in beside B)
    waits[0]!(new Error("the suspensions database did not answer (the test)"));
    expect((await a).status).toBe(503);
    expect(await deliver(receiver, set)).toEqual(BEING_APPLIED);
    waits[1]!(new Error("the suspensions database did not answer (the test)"));
    expect((await b).status).toBe(503);
    // B let go of its own: the next delivery applies it
    expect((await deliver(receiver, set)).status).toBe(202);
    expect(decided(frank, clock - 60_000)).toBe("principal_suspended");
  });

  it("is recorded as applied though the first tries to record it fail, and is never applied again", async () => {
    const grace = `grace-${randomUUID()}`;
    // the database takes the SET's events, and refuses (twice) to record it as applied
    const marking = receiverWith((real) => real(), marksRefused(2));
    const set = await sign(`${RISC}account-disabled`, grace, clock);
    expect((await deliver(marking, set)).status).toBe(202);
    expect(decided(grace, clock - 60_000)).toBe("principal_suspended");
    // being recorded (tried again 1 s, then 2 s later): held, then refused as the replay it is
    expect(await deliver(receiver, set)).toEqual(BEING_APPLIED);
    await vi.waitFor(async () => expect(await deliver(receiver, set)).toEqual(REPLAYED), { timeout: 10_000, interval: 200 });
    expect(logged.lines().some((line) => line["msg"] === "an applied SET is recorded as applied, after a try that failed")).toBe(true);
    // a resume by its later account-enabled is not undone by the SET delivered again after the claim's time
    clock += 1_000;
    expect(await push(`${RISC}account-enabled`, grace, clock)).toBe(202);
    clock += CLAIM_MS;
    expect(await deliver(receiver, set)).toEqual(REPLAYED);
    expect(decided(grace, clock - 60_000)).toBe("allowed");
    expect(actionsFor(grace)).toEqual(["suspended", "resumed"]);
  });

  it("is not suspended anew by an account-disabled of before an account-enabled applied first (delivered again after a 503, or late)", async () => {
    const heidi = `heidi-${randomUUID()}`;
    const t = clock;
    const issued = t - 60_000;
    clock = t + 30_000;
    // the disable (t + 10 s) failed with a 503; the enable (t + 20 s) came through meanwhile
    let failing = true;
    const flaky = receiverWith((real) => (failing ? unanswered() : real()));
    const disable = await sign(`${RISC}account-disabled`, heidi, t + 10_000, { event_timestamp: (t + 10_000) / 1_000 });
    expect((await deliver(flaky, disable)).status).toBe(503);
    failing = false;
    expect(await push(`${RISC}account-enabled`, heidi, t + 20_000, { event_timestamp: (t + 20_000) / 1_000 })).toBe(202);
    // delivered again: acknowledged, logged, and nothing suspended (until 2026-12-07 the user stayed suspended for good)
    expect((await deliver(receiver, disable)).status).toBe(202);
    expect(decided(heidi, issued)).toBe("allowed");
    expect(logged.lines().some((line) => line["msg"] === "not suspended: the transmitter re-enabled the account after this event" && line["set_jti"])).toBe(
      true,
    );
    // a disable of after the enable suspends, as ever
    expect(await push(`${RISC}account-disabled`, heidi, t + 25_000, { event_timestamp: (t + 25_000) / 1_000 })).toBe(202);
    expect(decided(heidi, issued)).toBe("principal_suspended");
    expect(actionsFor(heidi)).toEqual(["suspended"]);
  });

  it("lifts an account-disabled at once when a later account-enabled was applied while it was being written", async () => {
    const ivan = `ivan-${randomUUID()}`;
    const t = clock;
    const issued = t - 60_000;
    clock = t + 30_000;
    const enable = await sign(`${RISC}account-enabled`, ivan, t + 20_000, { event_timestamp: (t + 20_000) / 1_000 });
    // the enable is applied by another delivery between this disable's look for it and its own write
    const racing = receiverWith(async (real) => {
      expect((await deliver(receiver, enable)).status).toBe(202);
      return real();
    });
    const disable = await sign(`${RISC}account-disabled`, ivan, t + 10_000, { event_timestamp: (t + 10_000) / 1_000 });
    expect((await deliver(racing, disable)).status).toBe(202);
    expect(decided(ivan, issued)).toBe("allowed");
    expect(actionsFor(ivan)).toEqual(["suspended", "resumed"]);
  });
});

/** What the receiver keeps of each SET, as the tests read and change it. */
const received = () =>
  database.collection(
    defineCollection<{ _id: string; expires_at: Date; applied: boolean; claimed_at?: Date; claim?: string }>({
      name: "ssf_received",
      indexes: [],
      expiresAt: "expires_at",
    }),
  );

/** `database`, but the calls `method` on ssf_received go through `call` (given the real call and its arguments). */
function databaseWith(method: string, call: (real: () => Promise<unknown>, ...args: unknown[]) => Promise<unknown>): Database {
  return new Proxy(database, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property !== "collection") return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      return (def: Parameters<Database["collection"]>[0]) => {
        const collection = target.collection(def);
        if (def.name !== "ssf_received") return collection;
        return new Proxy(collection, {
          get(inner, name) {
            const member: unknown = Reflect.get(inner, name, inner);
            if (typeof member !== "function") return member;
            const bound = (member as (...args: unknown[]) => Promise<unknown>).bind(inner);
            return name === method ? (...args: unknown[]) => call(() => bound(...args), ...args) : bound;
          },
        });
      };
    },
  });
}

/** A SET of two events, each about a user of its own, issued at `iatMs`: `first` disabled, then `second` purged. */
function signTwo(first: string, second: string, iatMs: number, jti = randomUUID()): Promise<string> {
  const subject = (sub: string) => ({ subject: { format: "iss_sub", iss: TOKEN_ISSUER, sub } });
  const payload = {
    iss: TRANSMITTER,
    aud: RECEIVER,
    iat: iatMs / 1_000,
    jti,
    events: { [`${RISC}account-disabled`]: subject(first), [`${RISC}account-purged`]: subject(second) },
  };
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid, typ: "secevent+jwt" }).sign(signingKey);
}

/** A write that waits for the test: the first add of a receiver made with it waits until open(); the rest are the real ones. */
function firstAddWaits(): { add: Parameters<typeof receiverWith>[0]; adds: () => number; open: () => void } {
  let adds = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    add: async (real) => {
      adds += 1;
      if (adds === 1) await opened;
      return real();
    },
    adds: () => adds,
    open,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const STOPPING = { status: 503, body: { err: "temporarily_unavailable", description: "Verdict is stopping; deliver again" } };
const NOT_APPLIED = { status: 503, body: { err: "temporarily_unavailable", description: "the suspensions database did not answer; deliver again" } };

describe("a delivery's claim while it applies", () => {
  /** The claim's time of these receivers: renewed every 200 ms, while the test's clock jumps by CLAIM_MS. */
  const SHORT_CLAIM_MS = 600;

  it("is renewed while an apply runs longer than the claim's time: a delivery meanwhile is told it is being applied, and the SET is applied once", async () => {
    const judy = `judy-${randomUUID()}`;
    const write = firstAddWaits();
    const slow = receiverWith(write.add, database, { claimMs: SHORT_CLAIM_MS });
    const set = await sign(`${RISC}account-disabled`, judy, clock);
    const a = deliver(slow, set);
    await vi.waitFor(() => expect(write.adds()).toBe(1));
    // the apply outlasts the claim's time (several events, each write at its own deadline)
    clock += CLAIM_MS;
    await sleep(3 * SHORT_CLAIM_MS);
    // until 2026-12-07 this delivery took the claim over and applied the SET beside the first
    expect(await deliver(slow, set)).toEqual(BEING_APPLIED);
    write.open();
    expect((await a).status).toBe(202);
    expect(await deliver(slow, set)).toEqual(REPLAYED);
    expect(write.adds()).toBe(1);
    expect(decided(judy, clock - 60_000)).toBe("principal_suspended");
  });

  it("is renewed until the SET is recorded as applied: a delivery while the record is tried again is told it is being applied", async () => {
    const olga = `olga-${randomUUID()}`;
    const marking = receiverWith((real) => real(), marksRefused(2), { claimMs: SHORT_CLAIM_MS });
    const set = await sign(`${RISC}account-disabled`, olga, clock);
    expect((await deliver(marking, set)).status).toBe(202);
    // the record is tried again 1 s, then 2 s later: past the claim's time
    clock += CLAIM_MS;
    await sleep(3 * SHORT_CLAIM_MS);
    // until 2026-12-07 the claim was no longer renewed once the events were applied, and this delivery applied them again
    expect(await deliver(marking, set)).toEqual(BEING_APPLIED);
    await vi.waitFor(async () => expect(await deliver(marking, set)).toEqual(REPLAYED), { timeout: 10_000, interval: 200 });
    expect(actionsFor(olga)).toEqual(["suspended"]);
  });

  it("is timed on the database's clock: a replica whose clock runs 90 s ahead does not take over a claim held a moment ago", async () => {
    const pat = `pat-${randomUUID()}`;
    const write = firstAddWaits();
    // receivers on their process's own clock (not the test's): Date.now, and the database's as measured
    const a = receiverWith(write.add, database, { now: undefined });
    const set = await sign(`${RISC}account-disabled`, pat, Math.floor(Date.now() / 1_000) * 1_000);
    const applying = deliver(a, set);
    await vi.waitFor(() => expect(write.adds()).toBe(1));
    const real = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => real() + 90_000);
    try {
      expect(await database.clock.measure()).toBe(true);
      // until 2026-12-07 claims were timed on each replica's clock: this one took the claim over and applied the SET too
      expect(
        await deliver(
          receiverWith((add) => add(), database, { now: undefined }),
          set,
        ),
      ).toEqual(BEING_APPLIED);
    } finally {
      vi.restoreAllMocks();
      await database.clock.measure();
    }
    write.open();
    expect((await applying).status).toBe(202);
    expect(write.adds()).toBe(1);
  });

  it("stops before its next event when a renewal finds the claim another delivery's, and leaves that claim alone", async () => {
    const kim = `kim-${randomUUID()}`;
    const lee = `lee-${randomUUID()}`;
    const write = firstAddWaits();
    const slow = receiverWith(write.add, database, { claimMs: SHORT_CLAIM_MS });
    const jti = randomUUID();
    const set = await signTwo(kim, lee, clock, jti);
    const a = deliver(slow, set);
    await vi.waitFor(() => expect(write.adds()).toBe(1));
    // another delivery took the claim over (this one's renewals had not reached the database for the claim's time)
    await received().updateOne({ _id: `idp\n${jti}` }, { $set: { claim: "another delivery's", claimed_at: new Date(clock) } });
    await sleep(3 * SHORT_CLAIM_MS);
    write.open();
    expect(await a).toEqual(BEING_APPLIED);
    expect(decided(kim, clock - 60_000)).toBe("principal_suspended");
    expect(decided(lee, clock - 60_000)).toBe("allowed");
    expect(write.adds()).toBe(1);
    expect(await received().findOne({ _id: `idp\n${jti}` })).toMatchObject({ applied: false, claim: "another delivery's" });
    const warned = logged.lines().filter((line) => line["jti"] === jti && String(line["msg"]).startsWith("a SET's claim was taken over by another delivery"));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ level: 40, iss: TRANSMITTER });
    expect(JSON.stringify(warned[0])).not.toContain(set.split(".")[2]);
  });

  it("stops before its next event once its renewals have not reached the database for the claim's time, and lets go of its claim", async () => {
    const mia = `mia-${randomUUID()}`;
    const ned = `ned-${randomUUID()}`;
    const write = firstAddWaits();
    const renewalsRefused = databaseWith("updateOne", (real, _filter, update) =>
      (update as { $max?: { claimed_at?: Date } }).$max?.claimed_at ? Promise.reject(new Error("the database did not answer (the test)")) : real(),
    );
    const slow = receiverWith(write.add, renewalsRefused, { claimMs: SHORT_CLAIM_MS });
    const jti = randomUUID();
    const set = await signTwo(mia, ned, clock, jti);
    const a = deliver(slow, set);
    await vi.waitFor(() => expect(write.adds()).toBe(1));
    clock += SHORT_CLAIM_MS;
    await sleep(3 * SHORT_CLAIM_MS);
    write.open();
    expect(await a).toEqual(NOT_APPLIED);
    expect(decided(ned, clock - 60_000)).toBe("allowed");
    expect(logged.lines().some((line) => line["jti"] === jti && line["msg"] === "a SET's claim could not be renewed; tried again")).toBe(true);
    // let go of: the transmitter's next delivery applies it at once
    expect(await received().findOne({ _id: `idp\n${jti}` })).toBeNull();
    expect((await deliver(receiver, set)).status).toBe(202);
    expect(decided(mia, clock - 60_000)).toBe("principal_suspended");
    expect(decided(ned, clock - 60_000)).toBe("principal_suspended");
  });
});

describe("the receiver's own database calls", () => {
  it(`answer 503 when the database does not take a claim within ${CALL_MS / 1_000} s, and let go of the claim when it lands later`, async () => {
    const olga = `olga-${randomUUID()}`;
    let landed = false;
    const lateClaims = databaseWith("insertOne", async (real) => {
      await sleep(CALL_MS + 500);
      const result = await real();
      landed = true;
      return result;
    });
    const late = receiverWith((real) => real(), lateClaims);
    const jti = randomUUID();
    const set = await sign(`${RISC}account-disabled`, olga, clock, {}, jti);
    const started = Date.now();
    const answer = await Promise.race([deliver(late, set), sleep(CALL_MS + 3_000).then(() => "no answer in time")]);
    // until 2026-12-08 the delivery waited for the database as long as the driver did
    expect(answer).toEqual({ status: 503, body: { err: "temporarily_unavailable", description: "the SET could not be recorded; deliver again" } });
    expect(Date.now() - started).toBeLessThan(CALL_MS + 1_000);
    expect(decided(olga, clock - 60_000)).toBe("allowed");
    // the claim lands after its delivery answered: let go of, so that the next delivery applies the SET at once
    await vi.waitFor(() => expect(landed).toBe(true));
    await vi.waitFor(async () => expect(await received().findOne({ _id: `idp\n${jti}` })).toBeNull());
    expect((await deliver(receiver, set)).status).toBe(202);
    expect(decided(olga, clock - 60_000)).toBe("principal_suspended");
  });
});

describe("a receiver that closes", () => {
  it("answers new deliveries 503, and waits for one under way to apply its SET and record it", async () => {
    const pat = `pat-${randomUUID()}`;
    const quinn = `quinn-${randomUUID()}`;
    const write = firstAddWaits();
    const closing = receiverWith(write.add);
    const set = await sign(`${RISC}account-disabled`, pat, clock);
    const a = deliver(closing, set);
    await vi.waitFor(() => expect(write.adds()).toBe(1));
    let closed = false;
    const close = closing.close().then(() => (closed = true));
    expect(await deliver(closing, await sign(`${RISC}account-disabled`, quinn, clock))).toEqual(STOPPING);
    await sleep(500);
    expect(closed).toBe(false);
    write.open();
    expect((await a).status).toBe(202);
    await close;
    expect(await deliver(receiver, set)).toEqual(REPLAYED);
    expect(decided(pat, clock - 60_000)).toBe("principal_suspended");
    expect(decided(quinn, clock - 60_000)).toBe("allowed");
  });

  it("stops a delivery still under way after 3 s before its next event, and lets go of its claim", async () => {
    const rose = `rose-${randomUUID()}`;
    const sam = `sam-${randomUUID()}`;
    const write = firstAddWaits();
    const closing = receiverWith(write.add);
    const jti = randomUUID();
    const set = await signTwo(rose, sam, clock, jti);
    const a = deliver(closing, set);
    await vi.waitFor(() => expect(write.adds()).toBe(1));
    const close = closing.close();
    const told = "stopping: the SET deliveries still under way stop before their next event";
    await vi.waitFor(() => expect(logged.lines().some((line) => line["msg"] === told)).toBe(true), { timeout: 5_000, interval: 100 });
    write.open();
    expect(await a).toEqual(STOPPING);
    await close;
    expect(decided(sam, clock - 60_000)).toBe("allowed");
    expect(await received().findOne({ _id: `idp\n${jti}` })).toBeNull();
    expect((await deliver(receiver, set)).status).toBe(202);
    expect(decided(rose, clock - 60_000)).toBe("principal_suspended");
    expect(decided(sam, clock - 60_000)).toBe("principal_suspended");
  });
});
