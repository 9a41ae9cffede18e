// State queries, obligations and Release through a running Verdict.
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/server/index.js";
import { buildFixtureBundle } from "../support/bundles.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "../support/issuer.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;
let issuer: TestIssuer;
let other: TestClient;

beforeAll(async () => {
  issuer = await createTestIssuer();
  t = await startTestVerdict({
    issuer,
    config: {
      bundle: await buildFixtureBundle("state-policy"),
      apis: [
        { name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey("invoices-key"), scopes: [...TEST_SCOPES] },
        { name: "other-api", audience: "https://other.example", key_sha256: hashApiKey("other-key"), scopes: [...TEST_SCOPES] },
      ],
    },
  });
  t.client.close();
  t.client = new TestClient(t.address, "invoices-key");
  other = new TestClient(t.address, "other-key");
});
afterAll(async () => {
  other?.close();
  await t?.stop();
});

const user = async () => issuer.token({ sub: `user-${randomUUID()}` });

describe("state queries", () => {
  it("hand the policy what was spent today, read live", async () => {
    const token = await user();
    await t.client.check({ token, action: "transfer", context: { amount: 300 } });
    await t.client.check({ token, action: "transfer", context: { amount: 200 } });
    const seen = await t.client.check({ token, action: "transfer_checked", context: { amount: 100 } });
    expect(seen).toMatchObject({ decision: "ALLOW", reasons: [{ code: "state_seen", message: "500" }] });
    const refused = await t.client.check({ token, action: "transfer_checked", context: { amount: 501 } });
    expect(refused).toMatchObject({ decision: "DENY", reasons: [{ code: "limit_exceeded", message: "spent 500 of 1000 today" }] });
  });
});

describe("obligations", () => {
  it("report what was enforced with the allow", async () => {
    const response = await t.client.check({ token: await user(), action: "transfer_sliding", context: { amount: 120 } });
    expect(response.obligations).toEqual([expect.objectContaining({ type: "reserve", amount: 120, limit: 300, window: "sliding:3600", total: 120 })]);
  });

  it("turn into STEP_UP with the policy's challenge when the policy says so", async () => {
    const token = await user();
    expect((await t.client.check({ token, action: "transfer_or_step_up", context: { amount: 1000 } })).decision).toBe("ALLOW");
    const over = await t.client.check({ token, action: "transfer_or_step_up", context: { amount: 1 } });
    expect(over).toMatchObject({
      decision: "STEP_UP",
      reasons: [{ code: "limit_needs_approval" }],
      challenge: { error: "insufficient_user_authentication", acr_values: ["mfa"], max_age: 300 },
      obligations: [],
    });
  });

  it("say on a rate's DENY how long until its window frees room, and on no other answer", async () => {
    const token = await issuer.token({ client_id: `agent-${randomUUID()}` });
    // the fixture allows 50 a minute, in a sliding window of one-second buckets
    for (let i = 0; i < 50; i++) expect(await t.client.check({ token, action: "ping" })).toMatchObject({ decision: "ALLOW", retry_after_ms: 0 });
    const over = await t.client.check({ token, action: "ping" });
    expect(over).toMatchObject({ decision: "DENY", reasons: [{ code: "rate_limited" }] });
    // the first ping's bucket leaves the minute a minute after it ends: at most 61 s from now, less the time the pings took
    expect(over.retry_after_ms).toBeGreaterThan(30_000);
    expect(over.retry_after_ms).toBeLessThanOrEqual(61_000);
    // a budget's deny is the policy's limit, not a pace: no retry
    const budget = await user();
    expect((await t.client.check({ token: budget, action: "transfer", context: { amount: 1000 } })).decision).toBe("ALLOW");
    expect(await t.client.check({ token: budget, action: "transfer", context: { amount: 1 } })).toMatchObject({
      decision: "DENY",
      reasons: [{ code: "limit_exceeded" }],
      retry_after_ms: 0,
    });
  });

  it("are refused as a policy error when malformed (a negative amount), never allowed", async () => {
    const response = await t.client.check({ token: await user(), action: "transfer", context: { amount: -5 } });
    expect(response).toMatchObject({ decision: "DENY", reasons: [{ code: "policy_error" }] });
  });

  it("key on untrusted context values without reading them as operators", async () => {
    const token = await user();
    const account = { $gt: "" };
    expect((await t.client.check({ token, action: "by_account", context: { account } })).decision).toBe("ALLOW");
    expect((await t.client.check({ token, action: "by_account", context: { account } })).decision).toBe("ALLOW");
    expect((await t.client.check({ token, action: "by_account", context: { account } })).reasons[0]?.code).toBe("limit_exceeded");
    // another account is another counter, not matched by the operator-looking one
    expect((await t.client.check({ token, action: "by_account", context: { account: "acc-1" } })).decision).toBe("ALLOW");
  });
});

describe("dry runs", () => {
  it("preview what they would apply without applying it (issue 12 defect 11)", async () => {
    const token = await user();
    for (let i = 0; i < 3; i++) {
      const response = await t.client.check({ token, action: "transfer", context: { amount: 1000 }, dryRun: true });
      expect(response).toMatchObject({ decision: "ALLOW", obligations: [{ type: "reserve", amount: 1000, limit: 1000, window: "day", total: 1000 }] });
    }
    expect((await t.client.check({ token, action: "transfer", context: { amount: 1000 } })).decision).toBe("ALLOW");
  });

  it("deny where the real call would: over the daily limit", async () => {
    const token = await user();
    expect((await t.client.check({ token, action: "transfer", context: { amount: 700 } })).decision).toBe("ALLOW");
    const preview = await t.client.check({ token, action: "transfer", context: { amount: 400 }, dryRun: true });
    expect(preview).toMatchObject({ decision: "DENY", reasons: [{ code: "limit_exceeded" }] });
    const fits = await t.client.check({ token, action: "transfer", context: { amount: 300 }, dryRun: true });
    expect(fits).toMatchObject({ decision: "ALLOW", obligations: [{ type: "reserve", total: 1000 }] });
    // and the dry runs held nothing: exactly the rest of the limit is grantable
    expect((await t.client.check({ token, action: "transfer", context: { amount: 300 } })).decision).toBe("ALLOW");
    expect((await t.client.check({ token, action: "transfer", context: { amount: 1 } })).reasons[0]?.code).toBe("limit_exceeded");
  });

  it("deny where the real call would: a single-use key already used", async () => {
    const token = await issuer.token();
    expect((await t.client.check({ token, action: "approve", dryRun: true })).decision).toBe("ALLOW");
    expect((await t.client.check({ token, action: "approve" })).decision).toBe("ALLOW");
    expect(await t.client.check({ token, action: "approve", dryRun: true })).toMatchObject({ decision: "DENY", reasons: [{ code: "token_replayed" }] });
  });

  it("deny where the real call would: a batch whose items go over the daily limit together", async () => {
    const token = await user();
    const items = [400, 400, 400].map((amount) => ({ action: "transfer", context: { amount } }));
    const preview = await t.client.checkBatch({ token, items, dryRun: true });
    const real = await t.client.checkBatch({ token, items });
    if (!preview.ok || !real.ok) throw new Error("CheckBatch failed");
    const outcome = (r: typeof preview.response) => r.results.map((one) => [one.response?.decision, one.response?.reasons[0]?.code ?? ""]);
    expect(outcome(preview.response)).toEqual([
      ["ALLOW", ""],
      ["ALLOW", ""],
      ["DENY", "limit_exceeded"],
    ]);
    expect(outcome(real.response)).toEqual(outcome(preview.response));
  });

  it("deny where the real call would: a rate used up", async () => {
    const token = await issuer.token({ client_id: `agent-${randomUUID()}` });
    // the fixture allows 50 a minute
    for (let i = 0; i < 50; i++) expect((await t.client.check({ token, action: "ping" })).decision).toBe("ALLOW");
    // a dry run reads the counter's total only: it does not say when to retry
    expect(await t.client.check({ token, action: "ping", dryRun: true })).toMatchObject({
      decision: "DENY",
      reasons: [{ code: "rate_limited" }],
      retry_after_ms: 0,
    });
  });
});

describe("Release", () => {
  it("gives back the budget of a decision whose action did not happen, once", async () => {
    const token = await user();
    const first = await t.client.check({ token, action: "transfer", context: { amount: 800 } });
    expect(first.decision).toBe("ALLOW");
    expect((await t.client.check({ token, action: "transfer", context: { amount: 300 } })).reasons[0]?.code).toBe("limit_exceeded");

    const released = await t.client.release(first.decision_id);
    expect(released).toMatchObject({ ok: true, response: { status: "released", released: [{ type: "reserve", amount: 800, limit: 1000, window: "day" }] } });
    expect((await t.client.check({ token, action: "transfer", context: { amount: 300 } })).decision).toBe("ALLOW");

    expect(await t.client.release(first.decision_id)).toMatchObject({ ok: true, response: { status: "already_released", released: [] } });
    expect((await t.client.check({ token, action: "transfer", context: { amount: 800 } })).reasons[0]?.code).toBe("limit_exceeded");
  });

  it("restores a single-use key", async () => {
    const token = await issuer.token();
    const first = await t.client.check({ token, action: "approve" });
    expect((await t.client.check({ token, action: "approve" })).reasons[0]?.code).toBe("token_replayed");
    await t.client.release(first.decision_id);
    expect((await t.client.check({ token, action: "approve" })).decision).toBe("ALLOW");
  });

  it("is refused for another API's decision, as if it were unknown", async () => {
    const first = await t.client.check({ token: await user(), action: "transfer", context: { amount: 10 } });
    expect(await other.release(first.decision_id)).toMatchObject({ ok: true, response: { status: "unknown_decision" } });
  });

  it("rejects a malformed decision id with INVALID_ARGUMENT and an unauthenticated caller with UNAUTHENTICATED", async () => {
    expect(await t.client.release("not-a-uuid")).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
    expect(await t.client.release(randomUUID(), null)).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
  });
});
