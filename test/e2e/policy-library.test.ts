// The shipped rule library end to end: real tokens (act chains, client types),
// gRPC, the compiled bundle, and the daily limits reserved in MongoDB, at the
// edge of each limit (equal, one over).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { captureLog } from "../support/log.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;
/** A second trusted issuer, whose users may have the same names as the first's. */
let other: TestIssuer;
/** What Verdict logged (a failure says what it warned of). */
const captured = captureLog();

beforeAll(async () => {
  const issuer = await createTestIssuer();
  other = await createTestIssuer({ issuer: "https://other-issuer.test.example" });
  const trusted = (i: TestIssuer) => ({ issuer: i.issuer, jwks_file: i.jwksPath, algorithms: [i.alg as "ES256"] });
  t = await startTestVerdict({ issuer, log: captured.log, config: { issuers: [trusted(issuer), trusted(other)] } });
});
afterAll(async () => {
  await t?.stop();
});

const codes = (response: { reasons: { code: string }[] }) => response.reasons.map((r) => r.code);

describe("daily transaction limits, reserved in MongoDB", () => {
  it("allows a user's transfers up to exactly the daily limit and denies one more", async () => {
    const token = await t.issuer.token({ scope: "payments:write", sub: "user-daily", client_id: "web-app" });
    const transfer = (amount: number) => t.client.check({ token, action: "payments:transfer", context: { amount } });
    expect((await transfer(500)).decision).toBe("ALLOW");
    expect((await transfer(500)).obligations[0]?.total).toBe(1000);
    const over = await transfer(1);
    expect(over.decision).toBe("DENY");
    expect(codes(over)).toEqual(["limit_exceeded"]);
    // refused from the live spend (state query) before any reservation is tried
    expect(over.reasons[0]?.message).toBe("0 of this user's daily payments:transfer limit of 1000 is left");
  });

  it("allows an agent up to exactly its daily limit for the user, denies one more, and counts another agent apart", async () => {
    const agent = (clientId: string) => t.issuer.token({ scope: "payments:write", sub: "user-agents", client_id: clientId, client_type: "ai-agent" });
    const first = await agent("agent-7");
    const transfer = (token: string, amount: number) => t.client.check({ token, action: "payments:transfer", context: { amount } });
    for (const _ of [1, 2, 3]) expect((await transfer(first, 100)).decision).toBe("ALLOW");
    const over = await transfer(first, 1);
    expect(over.decision).toBe("DENY");
    expect(over.reasons[0]?.message).toBe("the daily payments:transfer limit of 300 for this user through this agent would be exceeded");

    const second = await transfer(await agent("agent-8"), 100);
    expect(second.decision).toBe("ALLOW");
    expect(
      second.obligations
        .filter((o) => o.type === "reserve")
        .map((o) => [o.key, o.total])
        .sort(),
    ).toEqual([
      [`payments%3Atransfer/daily_per_user/${encodeURIComponent(t.issuer.issuer)}/user-agents`, 400],
      [`payments%3Atransfer/daily_per_user_per_agent/${encodeURIComponent(t.issuer.issuer)}/user-agents/agent-8`, 100],
    ]);
  });

  it("gives back the user's reservation when the agent's limit is what fails", async () => {
    const token = await t.issuer.token({
      scope: "payments:write",
      sub: "user-rollback",
      client_id: "agent-9",
      client_type: "ai-agent",
      acr: "mfa",
      auth_time: Math.floor(Date.now() / 1000),
    });
    // 100 each: at the agent's approval threshold, so no approval is asked; 300 a day per agent.
    for (let i = 0; i < 3; i++) expect((await t.client.check({ token, action: "payments:transfer", context: { amount: 100 } })).decision).toBe("ALLOW");
    expect((await t.client.check({ token, action: "payments:transfer", context: { amount: 100 } })).decision).toBe("DENY");
    const human = await t.issuer.token({ scope: "payments:write", sub: "user-rollback", client_id: "web-app" });
    // 300 held for the user, not 400: the failed agent transfer reserved nothing
    expect((await t.client.check({ token: human, action: "payments:transfer", context: { amount: 500 } })).obligations[0]?.total).toBe(800);
  });
});

describe("delegation from the token's act chain", () => {
  it("allows a chain of two allowed actors", async () => {
    const token = await t.issuer.token({ act: { sub: "planner-agent", act: { sub: "agent-1" } } });
    expect((await t.client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");
  });

  it("denies a chain of three", async () => {
    const token = await t.issuer.token({ act: { sub: "planner-agent", act: { sub: "agent-1", act: { sub: "billing-agent" } } } });
    const response = await t.client.check({ token, action: "invoices:read" });
    expect(codes(response)).toEqual(["delegation_too_deep"]);
  });

  it("denies an actor that is not allowed, named by its client_id", async () => {
    const token = await t.issuer.token({ act: { sub: "agent-1", client_id: "rogue-agent" } });
    const response = await t.client.check({ token, action: "invoices:read" });
    expect(codes(response)).toEqual(["actor_not_allowed"]);
    expect(response.reasons[0]?.message).toContain("rogue-agent");
  });
});

describe("agents and bulk operations", () => {
  it("denies an agent's bulk delete of more items than agents may touch, whatever its authentication", async () => {
    const token = await t.issuer.token({ scope: "invoices:write", client_type: "ai-agent", acr: "phr", auth_time: Math.floor(Date.now() / 1000) });
    const response = await t.client.check({ token, action: "invoices:delete", context: { item_count: 51 } });
    expect(codes(response)).toEqual(["bulk_limit_exceeded"]);
  });

  it("denies an agent a batch of 51 deletes: the deny is reachable within max_batch_items (100)", async () => {
    const token = await t.issuer.token({
      scope: "invoices:write",
      client_id: "agent-batch-51",
      client_type: "ai-agent",
      acr: "mfa",
      auth_time: Math.floor(Date.now() / 1000),
    });
    const items = Array.from({ length: 51 }, (_, i) => ({ action: "invoices:delete", resource: { type: "invoice", id: `inv-${i}` } }));
    const batch = await t.client.checkBatch({ token, items });
    if (!batch.ok) throw new Error(batch.details);
    expect(batch.response.results.map((r) => r.response?.reasons.map((x) => x.code))).toEqual(items.map(() => ["bulk_limit_exceeded"]));
  });

  it("counts an agent's deletes over the hour: 10 per batch needs a step-up after 30, and stops at 100 whatever the authentication", async () => {
    const batchOf10 = async (token: string) => {
      const items = Array.from({ length: 10 }, (_, i) => ({ action: "invoices:delete", resource: { type: "invoice", id: `inv-${i}` } }));
      const batch = await t.client.checkBatch({ token, items });
      if (!batch.ok) throw new Error(batch.details);
      const decisions = new Set(batch.response.results.map((r) => r.response?.decision));
      // every item the same decision; a failure shows what each got, and what Verdict warned of (a Node 24 run once saw two)
      const got = batch.response.results.map((r) => `${r.response?.decision} ${r.response?.reasons.map((x) => `${x.code}: ${x.message}`).join(", ")}`);
      const warned = captured.lines().filter((line) => Number(line["level"]) >= 40);
      expect(decisions.size, [...got, ...warned.map((line) => JSON.stringify(line))].join("\n")).toBe(1);
      return { decision: [...decisions][0], reasons: batch.response.results[0]?.response?.reasons.map((r) => r.code) };
    };
    const agent = { scope: "invoices:write", sub: "user-bulk-window", client_id: "agent-bulk-window", client_type: "ai-agent" };
    const plain = await t.issuer.token({ ...agent, acr: "pwd" });
    for (const _ of [1, 2, 3]) expect(await batchOf10(plain)).toEqual({ decision: "ALLOW", reasons: [] });
    // 30 in the window: one more batch of 10 is a bulk operation of 40
    expect(await batchOf10(plain)).toEqual({ decision: "STEP_UP", reasons: ["bulk_step_up_required"] });
    const fresh = await t.issuer.token({ ...agent, acr: "mfa", auth_time: Math.floor(Date.now() / 1000) });
    for (let i = 0; i < 7; i++) expect(await batchOf10(fresh)).toEqual({ decision: "ALLOW", reasons: [] });
    // 100 in the window: the next is denied, even with a fresh MFA
    expect(await batchOf10(fresh)).toEqual({ decision: "DENY", reasons: ["bulk_limit_exceeded"] });
    // another agent of the same user has a window of its own
    const another = await t.issuer.token({ ...agent, client_id: "agent-bulk-other", acr: "pwd" });
    expect(await batchOf10(another)).toEqual({ decision: "ALLOW", reasons: [] });
  });

  it("asks a person for a fresh step-up on a large bulk delete", async () => {
    const token = await t.issuer.token({ scope: "invoices:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) - 301 });
    const response = await t.client.check({ token, action: "invoices:delete", context: { item_count: 51 } });
    expect(response).toMatchObject({ decision: "STEP_UP", challenge: { error: "insufficient_user_authentication", acr_values: ["mfa"], max_age: 300 } });
    expect(codes(response)).toEqual(["authentication_too_old"]);
  });

  it("asks for the user's approval before an agent exports a customer's personal data", async () => {
    const token = await t.issuer.token({ scope: "customers:read customers:export", client_type: "ai-agent" });
    const response = await t.client.check({
      token,
      action: "customers:export",
      resource: { type: "customer", id: "c-1", attributes: { classification: "pii" } },
    });
    expect(codes(response)).toEqual(["approval_required"]);
    expect(response.challenge).toMatchObject({ error: "approval_required", acr_values: ["mfa", "phr"], max_age: 300 });
  });
});

describe("who is an agent", () => {
  const transfer150 = async (claims: Record<string, unknown>) => {
    const token = await t.issuer.token({ scope: "payments:write", sub: `user-kind-${Math.random()}`, acr: "pwd", ...claims });
    return t.client.check({ token, action: "payments:transfer", context: { amount: 150 } });
  };

  it("gives a person's web client the human limits (150 needs no step-up)", async () => {
    expect((await transfer150({ client_type: "web" })).decision).toBe("ALLOW");
  });

  it.each([
    ["AI-Agent", { client_type: "AI-Agent" }],
    ["ai-agent with a trailing space", { client_type: "ai-agent " }],
    ["no client_type", { client_type: undefined }],
    ["an unknown client_type", { client_type: "confidential" }],
    ["a web client acting through an act chain", { client_type: "web", act: { sub: "agent-1" } }],
  ])("gives %s the agent limits (150 needs the user's approval)", async (_, claims) => {
    const response = await transfer150(claims);
    expect(response.decision).toBe("STEP_UP");
    expect(codes(response)).toEqual(["approval_required"]);
  });

  it("shows the normalised client_type in the principal", async () => {
    const response = await transfer150({ client_type: " AI-Agent " });
    expect(response.principal?.client_type).toBe("ai-agent");
  });
});

describe("state keyed by issuer and subject", () => {
  it("gives two issuers' users of the same name separate daily budgets", async () => {
    const mine = await t.issuer.token({ scope: "payments:write", sub: "user-X" });
    const theirs = await other.token({ scope: "payments:write", sub: "user-X" });
    const transfer = (token: string, amount: number) => t.client.check({ token, action: "payments:transfer", context: { amount } });
    expect((await transfer(mine, 500)).decision).toBe("ALLOW");
    expect((await transfer(mine, 500)).decision).toBe("ALLOW");
    expect(codes(await transfer(mine, 1))).toEqual(["limit_exceeded"]);
    // the other issuer's user-X has spent nothing
    const first = await transfer(theirs, 500);
    expect(first.decision).toBe("ALLOW");
    expect(first.obligations[0]?.total).toBe(500);
  });

  it("rate-counts two issuers' agents of the same name apart", async () => {
    const mine = await t.issuer.token({ scope: "invoices:read", client_id: "agent-same", client_type: "ai-agent", sub: "user-rate-a" });
    const theirs = await other.token({ scope: "invoices:read", client_id: "agent-same", client_type: "ai-agent", sub: "user-rate-b" });
    const a = await t.client.check({ token: mine, action: "invoices:read" });
    const b = await t.client.check({ token: theirs, action: "invoices:read" });
    const agentTotal = (r: typeof a) => r.obligations.find((o) => o.key.startsWith("rate/agent/"))?.total;
    expect([agentTotal(a), agentTotal(b)]).toEqual([1, 1]);
  });
});

describe("single-use tokens and agent rates, enforced in MongoDB", () => {
  it("lets a single-use token close an account once, and refuses it a second time", async () => {
    const token = await t.issuer.token({ scope: "accounts:write", acr: "phr", auth_time: Math.floor(Date.now() / 1000) });
    const close = () => t.client.check({ token, action: "accounts:close", resource: { type: "account", id: "acc-1" } });
    const first = await close();
    expect(first.decision).toBe("ALLOW");
    expect(first.obligations).toEqual([expect.objectContaining({ type: "once" })]);
    expect(codes(await close())).toEqual(["token_replayed"]);
  });

  it("counts an agent's requests: 120 a minute, then rate_limited", async () => {
    const token = await t.issuer.token({ scope: "invoices:read", client_id: "agent-rate", client_type: "ai-agent", sub: "user-rate" });
    const answers = await Promise.all(Array.from({ length: 121 }, () => t.client.check({ token, action: "invoices:read" })));
    expect(answers.filter((a) => a.decision === "ALLOW")).toHaveLength(120);
    expect(answers.filter((a) => a.decision === "DENY").map(codes)).toEqual([["rate_limited"]]);
  });
});
