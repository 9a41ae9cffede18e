// A slow database, at the state deadline a user gets (state_timeout_ms 500: how long
// the database may stay silent; a call waits at most four times that): a TCP relay
// that holds every chunk between Verdict and MongoDB for a while. A database that
// answers, only slower, is waited for; one silent past the deadline fails decisions
// that need state closed, decisions that need none are unaffected, writes that land
// after their deadline are given back, and when the database is fast again exactly
// the limit can be granted: never more, and nothing lost. A reservation whose answer
// is lost with its connection (applied, but Verdict never hears so) is given back too.
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { CheckResponseMessage } from "@verdict/sdk/wire";
import { storageKey } from "../../src/contract/index.js";
import { buildFixtureBundle } from "../support/bundles.js";
import { startDelayProxy, type DelayProxy } from "../support/delay-proxy.js";
import { captureLog } from "../support/log.js";
import { grpcHealth } from "../support/health.js";
import { mongoUri } from "../support/mongo.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

/** data.limits.daily of the state-policy fixture. */
const DAILY_LIMIT = 1_000;
/** Small enough that the slow phases cannot reach the limit: every refusal there is the database's. */
const AMOUNT = 10;

/** How a decision fails closed here: the database too slow, or (on a starved shared machine) the policy past its 250 ms bound. */
const FAIL_CLOSED = ["state_unavailable", "policy_error"];

let proxy: DelayProxy;
let t: TestVerdict;
let db: MongoClient;

beforeAll(async () => {
  const target = new URL(mongoUri());
  proxy = await startDelayProxy({ host: target.hostname, port: Number(target.port) });
  t = await startTestVerdict({
    mongoUri: `mongodb://${proxy.address}/?directConnection=true`,
    config: { bundle: await buildFixtureBundle("state-policy") },
  });
  db = new MongoClient(mongoUri(), { serverSelectionTimeoutMS: 10_000 });
});
afterAll(async () => {
  await t?.stop();
  await proxy?.close();
  await db?.close();
});

/** The daily counter of `sub` (or the one of `key`) as the database holds it (0 before the first reservation). */
async function counterTotal(sub: string, key = ["transfer", "daily", sub]): Promise<number> {
  const doc = await db
    .db(t.database)
    .collection("counters")
    .findOne({ key: storageKey(key) });
  return typeof doc?.["total"] === "number" ? doc["total"] : 0;
}

const granted = (responses: CheckResponseMessage[], amount: number) => responses.filter((r) => r.decision === "ALLOW").length * amount;

/** Transfers of AMOUNT until the daily limit: exactly the rest of it is granted (`grantedSoFar` held before), then no more. */
async function grantsExactlyTheRest(transfer: () => Promise<CheckResponseMessage>, sub: string, grantedSoFar: number): Promise<void> {
  const after: CheckResponseMessage[] = [];
  for (let i = 0; i < (DAILY_LIMIT - grantedSoFar) / AMOUNT + 1; i++) after.push(await transfer());
  expect(after.slice(0, -1).map((r) => r.decision)).toEqual(after.slice(0, -1).map(() => "ALLOW"));
  expect(after.at(-1)?.reasons.map((r) => r.code)).toEqual(["limit_exceeded"]);
  expect(await counterTotal(sub)).toBe(DAILY_LIMIT);
}

/**
 * `sub`'s transfer_both through `agent`, refused by the agent's limit while the give-back of
 * `sub`'s own reservation never reaches the server: transfer_both reserves for the user, then
 * for the agent (limit 500), which another user of the agent fills first; the user's
 * reservation is made, the agent's refused, and the rollback's `$pull` is lost.
 */
async function refusedWithLostRollback(client: TestVerdict["client"], sub: string, agent: string): Promise<CheckResponseMessage> {
  const other = await t.issuer.token({ sub: `${agent}-other-user`, client_id: agent });
  for (let i = 0; i < 5; i++)
    expect((await client.checkPastPauses({ token: other, action: "transfer_both", context: { amount: 100 } })).decision).toBe("ALLOW");
  const token = await t.issuer.token({ sub, client_id: agent });
  const lost = proxy.loseRequest("$pull");
  const refused = await client.check({ token, action: "transfer_both", context: { amount: 100 } });
  await lost;
  return refused;
}

describe("when the database is slow", () => {
  it("fails closed within the deadline, gives back writes that land late, and grants exactly the limit once it is fast again", async () => {
    const sub = "slow-db-user";
    const token = await t.issuer.token({ sub });
    const transfer = () => t.client.check({ token, action: "transfer", context: { amount: AMOUNT } });
    // while the database is fast, a pause of the shared machine may still fail a call closed: asked again
    const transferPastPauses = () => t.client.checkPastPauses({ token, action: "transfer", context: { amount: AMOUNT } });
    const responses: CheckResponseMessage[] = [];

    // fast: decided as usual
    for (let i = 0; i < 3; i++) responses.push(await transferPastPauses());
    expect(responses.map((r) => r.decision)).toEqual(["ALLOW", "ALLOW", "ALLOW"]);

    // slower and slower, in parallel: answered, only later (a live database is waited for)
    for (const delayMs of [5, 10, 15, 25, 40]) {
      proxy.setDelay(delayMs);
      const started = Date.now();
      const wave = await Promise.all(Array.from({ length: 10 }, transfer));
      // bounded by the deadline, not by the driver's own seconds-long timeouts
      expect(Date.now() - started).toBeLessThan(2_000);
      for (const response of wave) if (response.decision !== "ALLOW") expect(FAIL_CLOSED).toContain(response.reasons[0]?.code);
      responses.push(...wave);
    }
    // silent past the deadline (each chunk held longer than state_timeout_ms): every state decision is refused, within
    // the deadline's cap rather than the driver's seconds-long timeouts; decisions without state are made, health says SERVING
    // the first reservation of this phase is sent (the others are refused at once): its answer, after its deadline
    const lateAnswer = proxy.replyPassedOn("lastErrorObject");
    proxy.setDelay(1_200);
    const startedSlowest = Date.now();
    const slowest = await Promise.all(Array.from({ length: 10 }, transfer));
    expect(Date.now() - startedSlowest).toBeLessThan(2_500);
    expect(slowest.filter((r) => r.decision === "ALLOW")).toEqual([]);
    for (const response of slowest) expect(FAIL_CLOSED).toContain(response.reasons[0]?.code);
    expect(slowest.some((r) => r.reasons[0]?.code === "state_unavailable")).toBe(true);
    responses.push(...slowest);
    expect((await t.client.check({ token, action: "read" })).decision).toBe("ALLOW");
    expect(await grpcHealth(t.address)).toBe("SERVING");

    // fast again: once the late writes have landed and been given back, the counter holds exactly what was granted
    proxy.setDelay(0);
    const allowedSoFar = granted(responses, AMOUNT);
    expect(allowedSoFar).toBeLessThanOrEqual(DAILY_LIMIT);
    // that reservation has landed (the server answered it), and Verdict, told so late, gives it back (had none been
    // sent, nothing would come: the driver would have given up on it by 4 s, twice the state call's cap)
    await Promise.race([lateAnswer, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await vi.waitFor(async () => expect(await counterTotal(sub)).toBe(allowedSoFar), { timeout: 10_000, interval: 100 });

    // and exactly the rest of the limit can be granted, then no more
    await grantsExactlyTheRest(transferPastPauses, sub, allowedSoFar);
    expect(t.verdict.audit?.stats()).toMatchObject({ refused: 0, rejected: 0, lost: 0 });
  });

  it("gives back a reservation whose answer was lost with its connection, and grants exactly the limit", async () => {
    const sub = "lost-reply-user";
    const token = await t.issuer.token({ sub });
    const transfer = () => t.client.checkPastPauses({ token, action: "transfer", context: { amount: AMOUNT } });
    expect((await transfer()).decision).toBe("ALLOW");
    expect(await counterTotal(sub)).toBe(AMOUNT);

    // the server applies the next reservation, and its answer (findAndModify's, with its lastErrorObject) is lost with the connection
    const lost = proxy.loseReply("lastErrorObject");
    const refused = await t.client.check({ token, action: "transfer", context: { amount: AMOUNT } });
    await lost; // the server has applied it: its answer is what was lost
    expect(refused).toMatchObject({ decision: "DENY", reasons: [{ code: "state_unavailable" }] });
    await vi.waitFor(async () => expect(await counterTotal(sub)).toBe(AMOUNT), { timeout: 10_000, interval: 100 });

    // nothing lost: exactly the rest of the limit can be granted, then no more
    await grantsExactlyTheRest(transfer, sub, AMOUNT);
  });

  it("gives back a refused decision's reservation when the database did not take the first give-back", async () => {
    const sub = "lost-rollback-user";
    expect(await refusedWithLostRollback(t.client, sub, "rollback-agent")).toMatchObject({ decision: "DENY", reasons: [{ code: "limit_exceeded" }] });
    // tried again state_timeout_ms later: nothing stays held for a decision that was refused
    await vi.waitFor(async () => expect(await counterTotal(sub, ["both", "user", sub])).toBe(0), { timeout: 10_000, interval: 100 });
  });

  it("lets a give-back under way finish before a Verdict that shuts down closes its database", async () => {
    // a second Verdict over the same database and issuer, stopped while its rollback's retry waits for its turn
    const captured = captureLog();
    const own = await startTestVerdict({
      mongoUri: `mongodb://${proxy.address}/?directConnection=true`,
      issuer: t.issuer,
      log: captured.log,
      config: { bundle: await buildFixtureBundle("state-policy"), mongodb_database: t.database },
    });
    const sub = "shutdown-rollback-user";
    try {
      expect(await refusedWithLostRollback(own.client, sub, "shutdown-agent")).toMatchObject({ decision: "DENY", reasons: [{ code: "limit_exceeded" }] });
    } finally {
      await own.stop();
    }
    // given back before the database was closed: nothing to wait for once the Verdict has stopped
    expect(await counterTotal(sub, ["both", "user", sub])).toBe(0);
    expect(captured.lines().map((line) => line["msg"])).toContain("give-backs under way finished before the database was closed");
  });

  it("gives every reservation back exactly once when releases meet a slow database and are retried, as the SDK retries them", async () => {
    const sub = "slow-release-user";
    const token = await t.issuer.token({ sub });
    const allowed: string[] = [];
    for (let i = 0; i < 40; i++) {
      const response = await t.client.checkPastPauses({ token, action: "transfer", context: { amount: 25 } });
      expect(response.decision).toBe("ALLOW");
      allowed.push(response.decision_id);
    }
    expect(await counterTotal(sub)).toBe(1_000);

    // forty releases in parallel against a database that answers around the deadline: some land after it
    proxy.setDelay(20);
    const first = await Promise.all(allowed.map((id) => t.client.release(id)));
    proxy.setDelay(0);
    // every one that was refused as UNAVAILABLE is asked again until it is answered, as the SDK does
    const statuses = await Promise.all(
      first.map(async (outcome, i) => {
        let result = outcome;
        for (let attempt = 0; !result.ok && attempt < 20; attempt++) {
          expect(result.details).toMatch(/retry/);
          await new Promise((resolve) => setTimeout(resolve, 100));
          result = await t.client.release(allowed[i] as string);
        }
        return result.ok ? result.response.status : `failed: ${result.details}`;
      }),
    );
    for (const status of statuses) expect(["released", "already_released"]).toContain(status);

    // whatever each answer said, the whole budget is back, and only once: the full limit can be granted again, not more
    await vi.waitFor(async () => expect(await counterTotal(sub)).toBe(0), { timeout: 10_000, interval: 100 });
    expect((await t.client.checkPastPauses({ token, action: "transfer", context: { amount: DAILY_LIMIT } })).decision).toBe("ALLOW");
    expect((await t.client.checkPastPauses({ token, action: "transfer", context: { amount: 1 } })).reasons[0]?.code).toBe("limit_exceeded");
  });
});
