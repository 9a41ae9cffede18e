// The shipped rule library end to end: real tokens (act chains, client types),
// gRPC, the compiled bundle, and the daily limits reserved in MongoDB, at the
// edge of each limit (equal, one over).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;

beforeAll(async () => {
  t = await startTestVerdict();
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
    expect(second.obligations.filter((o) => o.type === "reserve").map((o) => [o.key, o.total])).toEqual([
      ["payments%3Atransfer/daily_per_user/user-agents", 400],
      ["payments%3Atransfer/daily_per_user_per_agent/user-agents/agent-8", 100],
    ]);
  });

  it("gives back the user's reservation when the agent's limit is what fails", async () => {
    const token = await t.issuer.token({ scope: "payments:write", sub: "user-rollback", client_id: "agent-9", client_type: "ai-agent", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) });
    expect((await t.client.check({ token, action: "payments:transfer", context: { amount: 200 } })).decision).toBe("ALLOW");
    expect((await t.client.check({ token, action: "payments:transfer", context: { amount: 200 } })).decision).toBe("DENY");
    const human = await t.issuer.token({ scope: "payments:write", sub: "user-rollback", client_id: "web-app" });
    // 200 held for the user, not 400: the failed agent transfer reserved nothing
    expect((await t.client.check({ token: human, action: "payments:transfer", context: { amount: 500 } })).obligations[0]?.total).toBe(700);
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
    const response = await t.client.check({ token, action: "invoices:delete", context: { item_count: 101 } });
    expect(codes(response)).toEqual(["bulk_limit_exceeded"]);
  });

  it("asks a person for a fresh step-up on a large bulk delete", async () => {
    const token = await t.issuer.token({ scope: "invoices:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) - 301 });
    const response = await t.client.check({ token, action: "invoices:delete", context: { item_count: 51 } });
    expect(response).toMatchObject({ decision: "STEP_UP", challenge: { error: "insufficient_user_authentication", acr_values: ["mfa"], max_age: 300 } });
    expect(codes(response)).toEqual(["authentication_too_old"]);
  });

  it("asks for a step-up before an agent exports a customer's data", async () => {
    const token = await t.issuer.token({ scope: "customers:read customers:export", client_type: "ai-agent" });
    const response = await t.client.check({ token, action: "customers:export", resource: { type: "customer", id: "c-1", attributes: { classification: "pii" } } });
    expect(codes(response)).toEqual(["sensitive_data_step_up_required"]);
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
