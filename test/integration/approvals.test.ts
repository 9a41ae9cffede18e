// Approvals kept by Verdict (docs/approvals.md) against the real thing: gRPC over
// a socket, the compiled demo bundle, MongoDB over the wire. An agent's transfer
// over 100 needs the user's yes to that exact transfer, given once with the
// user's own MFA token, used once, and told in the audit trail.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { MongoClient } from "mongodb";
import type { JsonObject } from "@verdict/sdk/wire";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { hashApiKey } from "../../src/server/index.js";
import { ApprovalTestClient } from "../support/approval-client.js";
import { AuditTestClient } from "../support/audit-client.js";
import { TEST_AUDIENCE, TEST_SCOPES } from "../support/issuer.js";
import { startDelayProxy, type DelayProxy } from "../support/delay-proxy.js";
import { connectTestClient, mongoUri } from "../support/mongo.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;
let approvals: ApprovalTestClient;
let ungranted: ApprovalTestClient;
let mongo: MongoClient;
/** Between Verdict and MongoDB, passing everything on at once unless a test has it lose a request. */
let proxy: DelayProxy;
const otherKey = `vdk_test_${randomBytes(16).toString("hex")}`;

beforeAll(async () => {
  const apiKey = `vdk_test_${randomBytes(16).toString("hex")}`;
  const target = new URL(mongoUri());
  proxy = await startDelayProxy({ host: target.hostname, port: Number(target.port) });
  t = await startTestVerdict({
    mongoUri: `mongodb://${proxy.address}/?directConnection=true`,
    apiKey,
    config: {
      apis: [
        { name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: [...TEST_SCOPES], grants: ["approvals"] },
        { name: "reports-api", audience: "https://reports.example", key_sha256: hashApiKey(otherKey), scopes: [...TEST_SCOPES] },
      ],
    },
  });
  approvals = new ApprovalTestClient(t.address, t.apiKey);
  ungranted = new ApprovalTestClient(t.address, otherKey);
  mongo = await connectTestClient();
});
afterAll(async () => {
  approvals?.close();
  ungranted?.close();
  await mongo?.close();
  await t?.stop();
  await proxy?.close();
});

/** Each test its own user: the demo's daily limits per user and agent never meet across tests. */
let alice = "alice";
beforeEach(() => {
  alice = `alice-${randomUUID().slice(0, 8)}`;
});

const now = () => Math.floor(Date.now() / 1000);
const agentToken = (sub = alice, client_id = "agent-7") => t.issuer.token({ sub, client_id, client_type: "ai-agent", scope: "payments:write" });
/** RFC 8693 act claims, outermost (current) actor first (the demo allows chains of 2 of its named actors). */
type Act = { sub: string; client_id?: string; iss?: string };
const planner: Act = { sub: "planner-agent" };
const subAgent: Act = { sub: "sub-agent", client_id: "agent-1" };
/** agent-7's token for the user, through this chain of actors. */
const chainedToken = (...chain: Act[]) => {
  const act = chain.reduceRight<Record<string, unknown> | undefined>((inner, actor) => ({ ...actor, ...(inner ? { act: inner } : {}) }), undefined);
  return t.issuer.token({ sub: alice, client_id: "agent-7", client_type: "ai-agent", scope: "payments:write", ...(act ? { act } : {}) });
};
/** The user's own token: another client (their banking app), a fresh MFA. */
const userToken = (claims: Record<string, unknown> = {}) =>
  t.issuer.token({ sub: alice, client_id: "bank-app", client_type: "web", scope: "payments:write", acr: "mfa", auth_time: now(), ...claims });
/** Over the agent's approval threshold (100), within its per-transaction limit (200). */
const transfer = { amount: 150, currency: "EUR", destination: "DE02100100109307118603" };

async function askTransfer(options: { token?: string; context?: JsonObject; account?: string; approvalId?: string; dryRun?: boolean } = {}) {
  return t.client.check({
    token: options.token ?? (await agentToken()),
    action: "payments:transfer",
    resource: { type: "account", id: options.account ?? "acc-1" },
    context: options.context ?? transfer,
    ...(options.approvalId !== undefined ? { approvalId: options.approvalId } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
  });
}

/** A fresh pending approval for the standard transfer (each test its own account, so daily limits do not meet). */
async function pending(account = `acc-${randomUUID()}`) {
  const asked = await askTransfer({ account });
  expect(asked.decision).toBe("STEP_UP");
  const id = asked.challenge?.approval_id ?? "";
  return { id, account, asked };
}

function ok<T>(outcome: { ok: true; response: T } | { ok: false; code: grpc.status; details: string }): T {
  if (!outcome.ok) throw new Error(`call failed: ${grpc.status[outcome.code]} ${outcome.details}`);
  return outcome.response;
}

/**
 * An approved transfer of 150 that the policy allows and its reservation refuses: the agent
 * already spent 200 of its daily 300 for this user (the user's own daily 1,000 is far off).
 */
async function approvedOverAgentLimit() {
  for (let i = 0; i < 2; i++) expect((await askTransfer({ account: `acc-${randomUUID()}`, context: { ...transfer, amount: 100 } })).decision).toBe("ALLOW");
  const { id, account } = await pending();
  ok(await approvals.approve(id, await userToken()));
  return { id, account };
}

/** The approvals collection, as Verdict keeps it. */
const stored = () => mongo.db(t.database).collection("approvals");

/** The approval's events in the audit trail, in order. */
async function eventsOf(id: string): Promise<string[]> {
  await t.verdict.audit?.flush();
  const trail = new AuditTestClient(t.address, t.apiKey);
  try {
    return (await trail.query({ approval_id: id })).records.map((r) => r.event_action);
  } finally {
    trail.close();
  }
}

describe("asking for an approval", () => {
  it("answers an agent's transfer over 100 with approval_required naming the approval, where to approve it and when it expires", async () => {
    const { id, asked } = await pending();
    expect(asked.reasons.map((r) => r.code)).toEqual(["approval_required"]);
    expect(asked.challenge).toMatchObject({ error: "approval_required", acr_values: ["mfa", "phr"], max_age: 300 });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(asked.challenge?.approval_url).toBe(`${t.verdict.adminUrl}/approvals/${id}`);
    expect(asked.challenge?.expires_at).toBeGreaterThanOrEqual(now() + 595);
    expect(asked.challenge?.expires_at).toBeLessThanOrEqual(now() + 600);
  });

  it("keeps the approval bound to the user, the agent, the action, the resource and a digest of the named fields", async () => {
    const { id, account, asked } = await pending();
    const kept = ok(await approvals.get(id));
    expect(kept).toMatchObject({
      approval_id: id,
      status: "pending",
      api: "invoices-api",
      issuer: t.issuer.issuer,
      subject: alice,
      client_id: "agent-7",
      action: "payments:transfer",
      resource: { type: "account", id: account },
      context: transfer,
      fields: ["amount", "currency", "destination"],
      requested_by_decision: asked.decision_id,
    });
    // RFC 8785: keys sorted, no spaces; the digest is of exactly that text.
    const { createHash } = await import("node:crypto");
    const canonical = '{"amount":150,"currency":"EUR","destination":"DE02100100109307118603"}';
    expect(kept.context_digest).toBe(`sha256:${createHash("sha256").update(canonical).digest("hex")}`);
  });

  it("keeps nothing in a dry run: the challenge names no approval", async () => {
    const account = `acc-${randomUUID()}`;
    const asked = await askTransfer({ account, dryRun: true });
    expect(asked.decision).toBe("STEP_UP");
    expect(asked.challenge).toMatchObject({ error: "approval_required", approval_id: "", approval_url: "" });
    expect(await mongo.db(t.database).collection("approvals").countDocuments({ "resource.id": account })).toBe(0);
  });

  it("asks nothing for a transfer at the threshold or for the user's own transfer", async () => {
    expect((await askTransfer({ context: { ...transfer, amount: 100 }, account: `acc-${randomUUID()}` })).decision).toBe("ALLOW");
    expect((await askTransfer({ token: await userToken(), account: `acc-${randomUUID()}` })).decision).toBe("ALLOW");
  });
});

describe("asking again, and the limit", () => {
  const kept = (query: Record<string, unknown>) => mongo.db(t.database).collection("approvals").countDocuments(query);

  it("answers the same request asked again with the same pending approval, kept once and told once", async () => {
    const { id, account, asked } = await pending();
    const again = await askTransfer({ account });
    expect(again).toMatchObject({ decision: "STEP_UP", reasons: [{ code: "approval_required" }] });
    expect(again.challenge).toEqual(asked.challenge);
    expect(await kept({ "resource.id": account })).toBe(1);
    expect(await eventsOf(id)).toEqual(["requested"]);
    // another amount is another request: another approval
    const other = await askTransfer({ account, context: { ...transfer, amount: 151 } });
    expect(other.challenge?.approval_id).not.toBe(id);
  });

  it("denies an agent's next approval for a user approval_limit once max_pending_per_agent are pending, keeping and telling nothing", async () => {
    const limit = t.config.approvals.max_pending_per_agent;
    const asked = [];
    for (let i = 0; i < limit; i++) asked.push(await pending());
    const over = await askTransfer({ account: `acc-${randomUUID()}` });
    expect(over).toMatchObject({ decision: "DENY", reasons: [{ code: "approval_limit" }] });
    expect(over.challenge).toBeUndefined();
    expect(await kept({ subject: alice, client_id: "agent-7" })).toBe(limit);
    await t.verdict.audit?.flush();
    const trail = new AuditTestClient(t.address, t.apiKey);
    try {
      const events = (await trail.query({ subject: alice, kind: "approval", limit: 1_000 })).records.map((r) => r.event_action);
      expect(events).toEqual(Array(limit).fill("requested"));
    } finally {
      trail.close();
    }
    // a request already pending is still answered with its approval
    const first = asked[0] as { id: string; account: string };
    expect((await askTransfer({ account: first.account })).challenge?.approval_id).toBe(first.id);
    // counted on its index
    const indexes = await mongo.db(t.database).collection("approvals").indexes();
    expect(indexes.find((index) => index.name === "approvals_pending_per_agent")?.key).toEqual({
      api: 1,
      issuer: 1,
      subject: 1,
      client_id: 1,
      status: 1,
      expires_at: 1,
    });
  });

  it("holds back neither another agent of the same user nor the same agent asking for another user", async () => {
    const limit = t.config.approvals.max_pending_per_agent;
    for (let i = 0; i < limit; i++) await pending();
    expect((await askTransfer({ account: `acc-${randomUUID()}` })).reasons.map((r) => r.code)).toEqual(["approval_limit"]);
    const otherAgent = await askTransfer({ account: `acc-${randomUUID()}`, token: await agentToken(alice, "agent-1") });
    expect(otherAgent).toMatchObject({ decision: "STEP_UP", reasons: [{ code: "approval_required" }] });
    const otherUser = await askTransfer({ account: `acc-${randomUUID()}`, token: await agentToken(`bob-${randomUUID().slice(0, 8)}`) });
    expect(otherUser).toMatchObject({ decision: "STEP_UP", reasons: [{ code: "approval_required" }] });
  });

  it("makes room for a new approval once a pending one is decided or expires", async () => {
    const limit = t.config.approvals.max_pending_per_agent;
    const asked = [];
    for (let i = 0; i < limit; i++) asked.push(await pending());
    const ask = () => askTransfer({ account: `acc-${randomUUID()}` });
    expect((await ask()).reasons.map((r) => r.code)).toEqual(["approval_limit"]);
    // the user refuses one: room for one
    ok(await approvals.refuse(asked[0]?.id ?? "", await userToken(), "not now"));
    expect((await ask()).decision).toBe("STEP_UP");
    expect((await ask()).reasons.map((r) => r.code)).toEqual(["approval_limit"]);
    // one's time is up (not marked yet): room for one
    await mongo
      .db(t.database)
      .collection("approvals")
      .updateOne({ _id: asked[1]?.id as never }, { $set: { expires_at: new Date(Date.now() - 1_000) } });
    expect((await ask()).decision).toBe("STEP_UP");
    expect((await ask()).reasons.map((r) => r.code)).toEqual(["approval_limit"]);
  });
});

describe("using an approval", () => {
  it("answers a retry before the user decided with approval_pending and the same approval", async () => {
    const { id, account } = await pending();
    const retry = await askTransfer({ account, approvalId: id });
    expect(retry.decision).toBe("STEP_UP");
    expect(retry.reasons.map((r) => r.code)).toEqual(["approval_pending"]);
    expect(retry.challenge?.approval_id).toBe(id);
  });

  it("allows the approved retry once, with the policy's obligations, and denies the second retry approval_used", async () => {
    const { id, account } = await pending();
    expect(ok(await approvals.approve(id, await userToken(), "yes, that rent"))).toMatchObject({
      status: "approved",
      decided_by: { subject: alice, acr: "mfa", via: "grpc" },
    });
    const first = await askTransfer({ account, approvalId: id });
    expect(first.decision).toBe("ALLOW");
    expect(first.obligations.map((o) => o.type)).toContain("reserve");
    expect(ok(await approvals.get(id))).toMatchObject({ status: "consumed", consumed_by_decision: first.decision_id });
    const second = await askTransfer({ account, approvalId: id });
    expect(second.decision).toBe("DENY");
    expect(second.reasons.map((r) => r.code)).toEqual(["approval_used"]);
  });

  it("gives the approval back when the decision's obligations cannot be met, and tells so in the audit trail", async () => {
    const { id, account } = await approvedOverAgentLimit();
    const refused = await askTransfer({ account, approvalId: id });
    expect(refused).toMatchObject({ decision: "DENY", reasons: [{ code: "limit_exceeded" }] });
    expect(ok(await approvals.get(id))).toMatchObject({ status: "approved" });
    expect(await eventsOf(id)).toEqual(["requested", "approved", "consumed", "given_back"]);
  });

  it("gives the approval back when the database did not take the first give-back: tried again in the background, once", async () => {
    const { id, account } = await approvedOverAgentLimit();
    // the give-back (the only write that unsets consumed_at) never reaches the server
    const lost = proxy.loseRequest(["$unset", "consumed_at"]);
    const refused = await askTransfer({ account, approvalId: id });
    await lost;
    expect(refused).toMatchObject({ decision: "DENY", reasons: [{ code: "limit_exceeded" }] });
    // tried again state_timeout_ms later: the person's yes is not spent on a decision that was refused
    await vi.waitFor(async () => expect(ok(await approvals.get(id))).toMatchObject({ status: "approved" }), { timeout: 10_000, interval: 100 });
    expect(await eventsOf(id)).toEqual(["requested", "approved", "consumed", "given_back"]);
  });

  it("gives the approval back for a decision whose caller was not answered with it, and only for the decision that used it", async () => {
    const { id, account } = await pending();
    ok(await approvals.approve(id, await userToken()));
    const used = await askTransfer({ account, approvalId: id });
    expect(used.decision).toBe("ALLOW");
    // another decision's give-back changes nothing
    await t.verdict.approvals.giveBackUse(id, randomUUID(), "invoices-api");
    expect(ok(await approvals.get(id)).status).toBe("consumed");
    await t.verdict.approvals.giveBackUse(id, used.decision_id, "invoices-api");
    expect(ok(await approvals.get(id)).status).toBe("approved");
    expect(await eventsOf(id)).toEqual(["requested", "approved", "consumed", "given_back"]);
  });

  it("denies approval_mismatch for a changed amount, another resource, another agent or another user, and consumes nothing", async () => {
    const { id, account } = await pending();
    ok(await approvals.approve(id, await userToken()));
    const mismatches = [
      await askTransfer({ account, approvalId: id, context: { ...transfer, amount: 151 } }),
      await askTransfer({ account, approvalId: id, context: { ...transfer, destination: "FR7630006000011234567890189" } }),
      await askTransfer({ account: `${account}-other`, approvalId: id }),
      await askTransfer({ account, approvalId: id, token: await agentToken(alice, "agent-1") }),
      await askTransfer({ account, approvalId: id, token: await agentToken("bob") }),
    ];
    for (const answer of mismatches) {
      expect(answer.decision).toBe("DENY");
      expect(answer.reasons.map((r) => r.code)).toEqual(["approval_mismatch"]);
    }
    expect(ok(await approvals.get(id)).status).toBe("approved");
    expect((await askTransfer({ account, approvalId: id })).decision).toBe("ALLOW");
  });

  it("does not accept an approval asked under another requirement (a policy that asks for more now)", async () => {
    const { id, account } = await pending();
    // As if asked under an older policy: no acr needed, no max_age (and a requirement that is not today's).
    await stored().updateOne({ _id: id as never }, { $set: { acr_values: [], requirement: `sha256:${"0".repeat(64)}` }, $unset: { max_age: "" } });
    // approved with a password-only token, as the weaker requirement let it be: not usable under today's
    ok(await approvals.approve(id, await userToken({ acr: "pwd" })));
    const retry = await askTransfer({ account, approvalId: id });
    expect(retry).toMatchObject({ decision: "DENY", reasons: [{ code: "approval_mismatch" }] });
    expect(ok(await approvals.get(id)).status).toBe("approved");
    // asked again, the request gets an approval under today's requirement
    const again = await askTransfer({ account });
    expect(again.challenge).toMatchObject({ error: "approval_required", acr_values: ["mfa", "phr"], max_age: 300 });
    expect(again.challenge?.approval_id).not.toBe(id);
  });

  it("ends a pending approval of the same request asked under another requirement, and asks anew", async () => {
    const { id, account } = await pending();
    await stored().updateOne({ _id: id as never }, { $set: { acr_values: [], requirement: `sha256:${"0".repeat(64)}` }, $unset: { max_age: "" } });
    const again = await askTransfer({ account });
    expect(again.challenge?.approval_id).not.toBe(id);
    expect(ok(await approvals.get(id)).status).toBe("expired");
    expect(await eventsOf(id)).toEqual(["requested", "expired"]);
    // the ended one takes no room: one pending for the request
    expect(await stored().countDocuments({ "resource.id": account, status: "pending" })).toBe(1);
  });

  it("works out the requirement of an approval kept before requirements were recorded from its fields", async () => {
    const { id, account } = await pending();
    await stored().updateOne({ _id: id as never }, { $unset: { requirement: "" } });
    expect((await askTransfer({ account })).challenge?.approval_id).toBe(id);
    ok(await approvals.approve(id, await userToken()));
    expect((await askTransfer({ account, approvalId: id })).decision).toBe("ALLOW");
  });

  it("denies approval_mismatch for a request through another chain of agents (or none) than the one it was asked through, and allows it through that one", async () => {
    const account = `acc-${randomUUID()}`;
    const id = (await askTransfer({ account, token: await chainedToken(planner, subAgent) })).challenge?.approval_id ?? "";
    ok(await approvals.approve(id, await userToken()));
    const others = [
      await agentToken(), // the same agent acting directly
      await chainedToken(planner), // a part of the chain
      await chainedToken(subAgent, planner), // the same actors, in another order
      await chainedToken({ ...planner, client_id: "planner-agent" }, subAgent), // an actor named otherwise
      await chainedToken(planner, { sub: "billing-agent" }), // another actor
    ];
    for (const token of others) {
      const answer = await askTransfer({ account, approvalId: id, token });
      expect(answer).toMatchObject({ decision: "DENY", reasons: [{ code: "approval_mismatch" }] });
      expect(answer.reasons[0]?.message).toContain("another chain of agents");
    }
    expect(ok(await approvals.get(id)).status).toBe("approved");
    expect((await askTransfer({ account, approvalId: id, token: await chainedToken(planner, subAgent) })).decision).toBe("ALLOW");
    // and the other way round: asked directly, not usable through a chain
    const direct = await pending();
    ok(await approvals.approve(direct.id, await userToken()));
    const through = await askTransfer({ account: direct.account, approvalId: direct.id, token: await chainedToken(planner) });
    expect(through).toMatchObject({ decision: "DENY", reasons: [{ code: "approval_mismatch" }] });
    expect((await askTransfer({ account: direct.account, approvalId: direct.id })).decision).toBe("ALLOW");
  });

  it("keeps the chain of agents an approval was asked through (each actor's iss too) and shows it to the person, outermost actor first", async () => {
    const account = `acc-${randomUUID()}`;
    const partner = { ...subAgent, iss: "https://partner.example" };
    const id = (await askTransfer({ account, token: await chainedToken(planner, partner) })).challenge?.approval_id ?? "";
    expect((await stored().findOne({ _id: id as never }))?.["actors"]).toEqual([
      { subject: "planner-agent" },
      { subject: "sub-agent", client_id: "agent-1", iss: "https://partner.example" },
    ]);
    expect(ok(await approvals.get(id)).actors).toEqual([
      { subject: "planner-agent", client_id: "", issuer: "" },
      { subject: "sub-agent", client_id: "agent-1", issuer: "https://partner.example" },
    ]);
    // the same chain but for the sub-agent's issuer is another chain: the person was shown the partner's sub-agent
    const other = await askTransfer({ account, token: await chainedToken(planner, subAgent), approvalId: id });
    expect(other).toMatchObject({ decision: "DENY", reasons: [{ code: "approval_mismatch" }] });
    expect(ok(await approvals.get((await pending()).id)).actors).toEqual([]);
  });

  it("asks anew for the same request through another chain of agents, leaving the first pending", async () => {
    const { id, account } = await pending();
    const chained = (await askTransfer({ account, token: await chainedToken(planner) })).challenge?.approval_id;
    expect(chained).toMatch(/^[0-9a-f-]{36}$/);
    expect(chained).not.toBe(id);
    const deeper = (await askTransfer({ account, token: await chainedToken(planner, subAgent) })).challenge?.approval_id;
    expect([id, chained]).not.toContain(deeper);
    // each chain asking again gets its own approval back; none was ended
    expect((await askTransfer({ account, token: await chainedToken(planner) })).challenge?.approval_id).toBe(chained);
    expect((await askTransfer({ account })).challenge?.approval_id).toBe(id);
    expect(await stored().countDocuments({ "resource.id": account, status: "pending" })).toBe(3);
    expect(await eventsOf(id)).toEqual(["requested"]);
  });

  it("leaves a pending approval asked through another chain of agents alone when the request is asked under another requirement", async () => {
    const { id, account } = await pending();
    await stored().updateOne({ _id: id as never }, { $set: { requirement: `sha256:${"0".repeat(64)}` } });
    const chained = (await askTransfer({ account, token: await chainedToken(planner) })).challenge?.approval_id;
    expect(chained).not.toBe(id);
    expect(ok(await approvals.get(id)).status).toBe("pending");
    expect(await eventsOf(id)).toEqual(["requested"]);
  });

  it("honours an approval kept before chains of agents were recorded only for a request through no chain", async () => {
    const { id, account } = await pending();
    await stored().updateOne({ _id: id as never }, { $unset: { actors: "" } });
    // asked again through a chain: another approval; directly: this one
    const chained = (await askTransfer({ account, token: await chainedToken(planner) })).challenge?.approval_id;
    expect(chained).not.toBe(id);
    expect((await askTransfer({ account })).challenge?.approval_id).toBe(id);
    expect(ok(await approvals.get(id)).actors).toEqual([]);
    ok(await approvals.approve(id, await userToken()));
    const through = await askTransfer({ account, approvalId: id, token: await chainedToken(planner) });
    expect(through).toMatchObject({ decision: "DENY", reasons: [{ code: "approval_mismatch" }] });
    expect((await askTransfer({ account, approvalId: id })).decision).toBe("ALLOW");
  });

  it("denies approval_refused after the user said no", async () => {
    const { id, account } = await pending();
    expect(ok(await approvals.refuse(id, await userToken(), "not mine")).status).toBe("refused");
    const retry = await askTransfer({ account, approvalId: id });
    expect(retry.decision).toBe("DENY");
    expect(retry.reasons.map((r) => r.code)).toEqual(["approval_refused"]);
  });

  it("denies approval_expired once the approval's time is up, approved or not", async () => {
    const { id, account } = await pending();
    ok(await approvals.approve(id, await userToken()));
    // Ten minutes pass: the approval's expiry moves into the past.
    await mongo
      .db(t.database)
      .collection("approvals")
      .updateOne({ _id: id as never }, { $set: { expires_at: new Date(Date.now() - 1_000) } });
    const retry = await askTransfer({ account, approvalId: id });
    expect(retry.decision).toBe("DENY");
    expect(retry.reasons.map((r) => r.code)).toEqual(["approval_expired"]);
    expect(ok(await approvals.get(id)).status).toBe("expired");
  });

  it("answers a dry run naming an ended approval approval_expired and writes nothing: it stays pending, with no expired event", async () => {
    const { id, account } = await pending();
    await stored().updateOne({ _id: id as never }, { $set: { expires_at: new Date(Date.now() - 1_000) } });
    const dry = await askTransfer({ account, approvalId: id, dryRun: true });
    expect(dry.decision).toBe("DENY");
    expect(dry.reasons.map((r) => r.code)).toEqual(["approval_expired"]);
    // until 2026-12-07 a dry run marked it expired (and wrote its event)
    expect((await stored().findOne({ _id: id as never }))?.["status"]).toBe("pending");
    expect(await eventsOf(id)).toEqual(["requested"]);
  });

  it("denies approval_not_found for an id Verdict never gave, and refuses a malformed one at the edge", async () => {
    const unknown = await askTransfer({ approvalId: randomUUID() });
    expect(unknown.decision).toBe("DENY");
    expect(unknown.reasons.map((r) => r.code)).toEqual(["approval_not_found"]);
    const malformed = await t.client.call({
      token: await agentToken(),
      action: "payments:transfer",
      resource: { type: "account", id: "acc-1" },
      context: transfer,
      approvalId: "../../etc",
    });
    expect(malformed).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
  });

  it("uses an approval exactly once when many retries race across two replicas", async () => {
    const replica = await startTestVerdict({ apiKey: t.apiKey, issuer: t.issuer, config: { mongodb_database: t.database } });
    try {
      const { id, account } = await pending();
      ok(await approvals.approve(id, await userToken()));
      const token = await agentToken();
      const retry = (client: typeof t.client) =>
        client.check({ token, action: "payments:transfer", resource: { type: "account", id: account }, context: transfer, approvalId: id });
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => retry(i % 2 === 0 ? t.client : replica.client)));
      expect(answers.filter((a) => a.decision === "ALLOW")).toHaveLength(1);
      expect(answers.filter((a) => a.decision === "DENY").map((a) => a.reasons[0]?.code)).toEqual(Array(9).fill("approval_used"));
    } finally {
      await replica.stop();
    }
  });
});

describe("approving", () => {
  it("refuses the requesting agent's own token, a delegated token and another user's, changing nothing", async () => {
    const { id } = await pending();
    const agentOwn = await t.issuer.token({ sub: alice, client_id: "agent-7", client_type: "ai-agent", scope: "payments:write", acr: "mfa", auth_time: now() });
    const delegated = await userToken({ act: { sub: "planner-agent" } });
    const bob = await t.issuer.token({ sub: "bob", client_id: "bank-app", scope: "payments:write", acr: "mfa", auth_time: now() });
    for (const token of [agentOwn, delegated, bob]) {
      const answer = await approvals.approve(id, token);
      expect(answer).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
      expect(answer.ok ? "" : answer.details).toMatch(/^approver_not_allowed:/);
    }
    expect(ok(await approvals.get(id)).status).toBe("pending");
    // each attempt is in the trail: who tried (never their token), and why they were refused
    expect(await eventsOf(id)).toEqual(["requested", "decide_refused", "decide_refused", "decide_refused"]);
    const refused = await mongo
      .db(t.database)
      .collection("decisions")
      .find({ kind: "event", action: "decide_refused", "target.approval_id": id }, { sort: { time: 1 } })
      .toArray();
    expect(refused.map((r) => [r["actor"], r["details"]])).toEqual([
      [
        { via: "grpc", api: "invoices-api", issuer: t.issuer.issuer, subject: alice, client_id: "agent-7", acr: "mfa" },
        { code: "approver_not_allowed", verdict: "approve" },
      ],
      [expect.objectContaining({ via: "grpc", subject: alice }), { code: "approver_not_allowed", verdict: "approve" }],
      [expect.objectContaining({ via: "grpc", subject: "bob", client_id: "bank-app" }), { code: "approver_not_allowed", verdict: "approve" }],
    ]);
    expect(refused.every((r) => String(r["reason"]).startsWith("approver_not_allowed: "))).toBe(true);
    expect(JSON.stringify(refused)).not.toContain(agentOwn.split(".")[2]);
  });

  it("counts an agent's repeated attempts at approving its own request: the first recorded, the rest one record with how many", async () => {
    const { id } = await pending();
    const agentOwn = await t.issuer.token({ sub: alice, client_id: "agent-7", client_type: "ai-agent", scope: "payments:write", acr: "mfa", auth_time: now() });
    for (let i = 0; i < 50; i++) {
      const answer = await approvals.approve(id, agentOwn);
      expect(answer.ok ? "" : answer.details).toMatch(/^approver_not_allowed:/);
    }
    // another attempt in the same window, by someone else, is its own record at once
    const bob = await t.issuer.token({ sub: "bob", client_id: "bank-app", scope: "payments:write", acr: "mfa", auth_time: now() });
    expect(await approvals.approve(id, bob)).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
    expect(ok(await approvals.get(id)).status).toBe("pending");
    // flushed: the window's repeats are kept now, as at its end
    expect(await eventsOf(id)).toEqual(["requested", "decide_refused", "decide_refused", "decide_refused"]);
    const refused = await mongo
      .db(t.database)
      .collection("decisions")
      .find({ kind: "event", action: "decide_refused", "target.approval_id": id }, { sort: { time: 1, count: 1 } })
      .toArray();
    const agentsOwn = refused.filter((r) => (r["actor"] as { client_id?: string }).client_id === "agent-7");
    expect(agentsOwn.map((r) => r["count"])).toEqual([undefined, 49]);
    const [first, repeats] = agentsOwn as [(typeof agentsOwn)[number], (typeof agentsOwn)[number]];
    expect(repeats).toMatchObject({ actor: first["actor"], target: first["target"], reason: first["reason"], details: first["details"] });
    expect((repeats["time"] as Date).getTime()).toBeGreaterThanOrEqual((first["time"] as Date).getTime());
    expect((repeats["last_time"] as Date).getTime()).toBeGreaterThanOrEqual((repeats["time"] as Date).getTime());
    expect(refused.filter((r) => (r["actor"] as { subject?: string }).subject === "bob").map((r) => r["count"])).toEqual([undefined]);
    // the query says how many, as it does for counted refusals
    const trail = new AuditTestClient(t.address, t.apiKey);
    try {
      const records = (await trail.query({ approval_id: id })).records.filter((r) => r.event_action === "decide_refused");
      expect(records.map((r) => r.count).sort((a, b) => a - b)).toEqual([0, 0, 49]);
      expect(records.find((r) => r.count === 49)?.last_time).toBe((repeats["last_time"] as Date).toISOString());
    } finally {
      trail.close();
    }
  });

  it("refuses another agent's token for the same user, and a token that does not say it is a person's client, changing nothing", async () => {
    const { id } = await pending();
    // strong and fresh, the user's own subject, not the requesting agent: only its client_type says it is an agent's
    const otherAgent = await t.issuer.token({
      sub: alice,
      client_id: "agent-1",
      client_type: "ai-agent",
      scope: "payments:write",
      acr: "mfa",
      auth_time: now(),
    });
    const untyped = await userToken({ client_type: undefined });
    const unknownType = await userToken({ client_type: "browser-automation" });
    for (const token of [otherAgent, untyped, unknownType]) {
      const answer = await approvals.approve(id, token);
      expect(answer).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
      expect(answer.ok ? "" : answer.details).toMatch(/^approver_not_allowed:/);
    }
    expect(ok(await approvals.get(id)).status).toBe("pending");
    // a person's other client (approvals.human_client_types, normalised like the token's) decides
    expect(ok(await approvals.approve(id, await userToken({ client_id: "bank-ios", client_type: " Native" })))).toMatchObject({ status: "approved" });
  });

  it("refuses a DPoP-bound token of the user (ApprovalService takes no proof of possession), changing nothing", async () => {
    const { id } = await pending();
    const bound = await userToken({ cnf: { jkt: createHash("sha256").update("the user's DPoP key").digest("base64url") } });
    for (const decide of [approvals.approve.bind(approvals), approvals.refuse.bind(approvals)]) {
      const answer = await decide(id, bound);
      expect(answer).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
      expect(answer.ok ? "" : answer.details).toMatch(/^dpop_bound_token:/);
    }
    expect(ok(await approvals.get(id)).status).toBe("pending");
  });

  it("refuses a token without the required acr, or with an authentication older than max_age", async () => {
    const { id } = await pending();
    for (const token of [await userToken({ acr: "pwd" }), await userToken({ auth_time: now() - 301 }), await userToken({ auth_time: undefined })]) {
      const answer = await approvals.approve(id, token);
      expect(answer).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
      expect(answer.ok ? "" : answer.details).toMatch(/^approval_authentication_insufficient:/);
    }
    expect(ok(await approvals.get(id)).status).toBe("pending");
  });

  it("refuses a token without the scopes the approval asks of its decider (the action's own), changing nothing, and tells which", async () => {
    const { id } = await pending();
    expect(ok(await approvals.get(id)).scopes).toEqual(["payments:write"]);
    for (const scope of ["invoices:read", "customers:read invoices:write", undefined]) {
      const token = await userToken({ scope });
      for (const decide of [approvals.approve.bind(approvals), approvals.refuse.bind(approvals)]) {
        const answer = await decide(id, token);
        expect(answer).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
        expect(answer.ok ? "" : answer.details).toMatch(/^approval_scope_insufficient: deciding needs a token with the scope payments:write/);
      }
    }
    expect(ok(await approvals.get(id)).status).toBe("pending");
    // each refused attempt is in the trail with its code (the same attempt again within the window counted)
    await t.verdict.audit?.flush();
    const refused = await mongo.db(t.database).collection("decisions").find({ kind: "event", action: "decide_refused", "target.approval_id": id }).toArray();
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => (r["details"] as { code?: string }).code === "approval_scope_insufficient")).toBe(true);
    expect(ok(await approvals.approve(id, await userToken({ scope: "invoices:read payments:write" })))).toMatchObject({ status: "approved" });
  });

  it("refuses approving twice, approving after expiry, unknown and malformed ids, and a token that does not verify", async () => {
    const { id } = await pending();
    ok(await approvals.approve(id, await userToken()));
    expect(await approvals.approve(id, await userToken())).toMatchObject({ ok: false, code: grpc.status.FAILED_PRECONDITION });
    expect(await approvals.refuse(id, await userToken())).toMatchObject({ ok: false, code: grpc.status.FAILED_PRECONDITION });
    expect(ok(await approvals.get(id)).status).toBe("approved");

    const late = await pending();
    await mongo
      .db(t.database)
      .collection("approvals")
      .updateOne({ _id: late.id as never }, { $set: { expires_at: new Date(Date.now() - 1_000) } });
    const expired = await approvals.approve(late.id, await userToken());
    expect(expired).toMatchObject({ ok: false, code: grpc.status.FAILED_PRECONDITION });
    expect(expired.ok ? "" : expired.details).toMatch(/^approval_expired:/);

    expect(await approvals.approve(randomUUID(), await userToken())).toMatchObject({ ok: false, code: grpc.status.NOT_FOUND });
    expect(await approvals.approve("not-an-id", await userToken())).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
    const fresh = await pending();
    expect(await approvals.approve(fresh.id, "not.a.token")).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
    expect(ok(await approvals.get(fresh.id)).status).toBe("pending");
  });

  it("lists approvals by user and status, and refuses a status it does not know", async () => {
    const { id } = await pending();
    const listed = ok(await approvals.list({ subject: alice, status: "pending", limit: 500 }));
    expect(listed.approvals.map((a) => a.approval_id)).toContain(id);
    expect(listed.approvals.every((a) => a.status === "pending" && a.subject === alice)).toBe(true);
    expect(await approvals.list({ status: "maybe" })).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
  });

  it("refuses ApprovalService to an API without the approvals grant", async () => {
    const { id } = await pending();
    expect(await ungranted.get(id)).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
    expect(await ungranted.approve(id, await userToken())).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
    expect(await ungranted.list()).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
  });
});

describe("the audit trail", () => {
  it("tells one approval's story in order: requested, approved (by whom, with which acr), consumed (by which decision)", async () => {
    const { id, account, asked } = await pending();
    ok(await approvals.approve(id, await userToken(), "rent"));
    const used = await askTransfer({ account, approvalId: id });
    expect(used.decision).toBe("ALLOW");
    await t.verdict.audit?.flush();
    const trail = new AuditTestClient(t.address, t.apiKey);
    try {
      const { records } = await trail.query({ approval_id: id });
      expect(records.map((r) => r.event_action)).toEqual(["requested", "approved", "consumed"]);
      expect(records.every((r) => r.kind === "approval" && r.decision === "EVENT" && r.target["approval_id"] === id)).toBe(true);
      const [requested, approved, consumed] = records;
      expect(requested?.context).toMatchObject({ decision_id: asked.decision_id, actor: { via: "policy", api: "invoices-api" } });
      expect(approved?.context).toMatchObject({ actor: { via: "grpc", subject: alice, acr: "mfa", client_id: "bank-app" }, reason: "rent" });
      expect(consumed?.context).toMatchObject({ decision_id: used.decision_id });
      expect(JSON.stringify(records)).not.toContain("eyJ");
    } finally {
      trail.close();
    }
  });

  it("records an expired approval once, when it is found ended", async () => {
    const { id, account } = await pending();
    await mongo
      .db(t.database)
      .collection("approvals")
      .updateOne({ _id: id as never }, { $set: { expires_at: new Date(Date.now() - 1_000) } });
    await askTransfer({ account, approvalId: id });
    await askTransfer({ account, approvalId: id });
    await t.verdict.audit?.flush();
    const trail = new AuditTestClient(t.address, t.apiKey);
    try {
      const { records } = await trail.query({ approval_id: id });
      expect(records.map((r) => r.event_action)).toEqual(["requested", "expired"]);
    } finally {
      trail.close();
    }
  });

  it("has the sweep mark every approval that ended unused expired, once, and leave the others as they are", async () => {
    const ended = [await pending(), await pending()];
    const approved = ended[1] as { id: string };
    ok(await approvals.approve(approved.id, await userToken()));
    const open = await pending();
    const used = await pending();
    ok(await approvals.approve(used.id, await userToken()));
    expect((await askTransfer({ account: used.account, approvalId: used.id })).decision).toBe("ALLOW");
    // Their time is up (one pending, one approved but never used; the used one too, which is not "unused").
    await mongo
      .db(t.database)
      .collection("approvals")
      .updateMany({ _id: { $in: [...ended.map((e) => e.id), used.id] as never[] } }, { $set: { expires_at: new Date(Date.now() - 1_000) } });

    expect(await t.verdict.approvals.sweep()).toBeGreaterThanOrEqual(2);
    expect(await t.verdict.approvals.sweep()).toBe(0);
    for (const { id } of ended) expect(ok(await approvals.get(id)).status).toBe("expired");
    expect(ok(await approvals.get(open.id)).status).toBe("pending");
    expect(ok(await approvals.get(used.id)).status).toBe("consumed");
    await t.verdict.audit?.flush();
    const trail = new AuditTestClient(t.address, t.apiKey);
    try {
      const actions = async (id: string) => (await trail.query({ approval_id: id })).records.map((r) => r.event_action);
      expect(await actions(ended[0]?.id ?? "")).toEqual(["requested", "expired"]);
      expect(await actions(approved.id)).toEqual(["requested", "approved", "expired"]);
      expect(await actions(open.id)).toEqual(["requested"]);
    } finally {
      trail.close();
    }
  });
});
