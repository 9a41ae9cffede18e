// Check over a real gRPC socket, with the compiled bundle and MongoDB over the wire.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { protobufField as field, rawUnary } from "../support/grpc.js";
import { grpcHealth, grpcHealthList } from "../support/health.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;

beforeAll(async () => {
  t = await startTestVerdict();
});
afterAll(async () => {
  await t?.stop();
});

describe("Check over gRPC", () => {
  it("allows reading invoices with the invoices:read scope and returns the verified principal", async () => {
    const token = await t.issuer.token({ scope: "invoices:read", client_type: "ai-agent", acr: "pwd", auth_time: 1_700_000_000 });
    const response = await t.client.check({ token, action: "invoices:read", resource: { type: "invoice", id: "inv-1" } });
    expect(response.decision).toBe("ALLOW");
    expect(response.reasons).toEqual([]);
    expect(response.challenge).toBeUndefined();
    expect(response.principal).toMatchObject({
      subject: "user-123",
      client_id: "agent-7",
      client_type: "ai-agent",
      scopes: ["invoices:read"],
      acr: "pwd",
      auth_time: 1_700_000_000,
      issuer: t.issuer.issuer,
      delegation_depth: 0,
    });
    expect(response.principal?.token_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.decision_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.policy_revision).toMatch(/^sha256:[0-9a-f]{16}$/);
  });

  it("denies a dispute without invoices:write, naming the scope in an insufficient_scope challenge", async () => {
    const token = await t.issuer.token({ scope: "invoices:read" });
    const response = await t.client.check({ token, action: "invoices:dispute" });
    expect(response.decision).toBe("DENY");
    expect(response.reasons.map((r) => r.code)).toEqual(["insufficient_scope"]);
    expect(response.challenge).toMatchObject({ error: "insufficient_scope", scopes: ["invoices:write"] });
  });

  it("asks for step-up on a dispute with invoices:write but no MFA", async () => {
    const token = await t.issuer.token({ scope: "invoices:read invoices:write", acr: "pwd" });
    const response = await t.client.check({ token, action: "invoices:dispute" });
    expect(response.decision).toBe("STEP_UP");
    expect(response.reasons.map((r) => r.code)).toEqual(["step_up_required"]);
    expect(response.challenge).toMatchObject({ error: "insufficient_user_authentication", acr_values: ["mfa"] });
  });

  it("allows a dispute once the user authenticated with MFA", async () => {
    const token = await t.issuer.token({ scope: "invoices:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) });
    const response = await t.client.check({ token, action: "invoices:dispute" });
    expect(response.decision).toBe("ALLOW");
  });

  it("denies a transfer over the per-transaction limit before touching the daily budget", async () => {
    const token = await t.issuer.token({ scope: "payments:write", sub: "user-over" });
    const response = await t.client.check({ token, action: "payments:transfer", resource: { type: "account", id: "acc-1" }, context: { amount: 501 } });
    expect(response.decision).toBe("DENY");
    expect(response.reasons.map((r) => r.code)).toEqual(["limit_exceeded"]);
    expect(response.obligations).toEqual([]);
  });

  it("reports the reservation it made for an allowed transfer", async () => {
    const token = await t.issuer.token({ scope: "payments:write", sub: "user-reports" });
    const response = await t.client.check({ token, action: "payments:transfer", context: { amount: 250 } });
    expect(response.decision).toBe("ALLOW");
    expect(response.obligations).toEqual([
      // state is keyed by issuer and subject (the issuer's URL, escaped as a key part)
      {
        type: "reserve",
        key: `payments%3Atransfer/daily_per_user/${encodeURIComponent(t.issuer.issuer)}/user-reports`,
        amount: 250,
        limit: 1000,
        window: "day",
        total: 250,
      },
    ]);
  });

  it("gives exactly 10 ALLOW and 40 DENY limit_exceeded for 50 concurrent transfers of 100 under a daily limit of 1000", async () => {
    const token = await t.issuer.token({ scope: "payments:write", sub: "user-concurrent" });
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.client.check({ token, action: "payments:transfer", resource: { type: "account", id: "acc-1" }, context: { amount: 100 }, requestId: `r-${i}` }),
      ),
    );
    const allowed = responses.filter((r) => r.decision === "ALLOW");
    const denied = responses.filter((r) => r.decision === "DENY");
    expect(allowed).toHaveLength(10);
    expect(denied).toHaveLength(40);
    expect(denied.every((r) => r.reasons.map((x) => x.code).join() === "limit_exceeded")).toBe(true);
    // every allowed reservation saw a distinct running total: 100, 200, ..., 1000
    expect(allowed.map((r) => r.obligations[0]?.total).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  });

  it("keeps the budget untouched on a dry run", async () => {
    const token = await t.issuer.token({ scope: "payments:write", sub: "user-dry" });
    for (let i = 0; i < 12; i++) {
      const response = await t.client.check({ token, action: "payments:transfer", context: { amount: 100 }, dryRun: true });
      expect(response.decision).toBe("ALLOW");
      // the preview shows the reservation as it would land: on an untouched budget, every time
      expect(response.obligations.find((o) => o.type === "reserve")).toMatchObject({ amount: 100, total: 100 });
    }
  });
});

describe("callers", () => {
  it("refuses a call without x-verdict-api-key with UNAUTHENTICATED", async () => {
    const token = await t.issuer.token();
    const result = await t.client.call({ token, action: "invoices:read" }, null);
    expect(result).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
  });

  it("refuses an unknown key with UNAUTHENTICATED", async () => {
    const token = await t.issuer.token();
    const result = await t.client.call({ token, action: "invoices:read" }, "vdk_not_a_key");
    expect(result).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
  });
});

describe("bad input", () => {
  it.each([
    ["an empty token", ""],
    ["a malformed token", "not-a-jwt"],
    ["three garbage segments", "a.b.c"],
  ])("denies %s with invalid_token and keeps serving", async (_, token) => {
    const response = await t.client.check({ token, action: "invoices:read" });
    expect(response.decision).toBe("DENY");
    expect(response.challenge?.error).toBe("invalid_token");
    expect(response.reasons[0]?.code).toMatch(/^token_(missing|malformed)$/);
    const next = await t.client.check({ token: await t.issuer.token(), action: "invoices:read" });
    expect(next.decision).toBe("ALLOW");
  });

  it("denies an unknown action with action_unknown", async () => {
    const response = await t.client.check({ token: await t.issuer.token(), action: "invoices:burn" });
    expect(response.decision).toBe("DENY");
    expect(response.reasons.map((r) => r.code)).toEqual(["action_unknown"]);
  });

  it.each([
    ["a missing action", { action: "" }, /action is required/],
    ["an action with spaces", { action: "invoices read" }, /action must be/],
    ["a missing resource", { resource: null }, /resource.type is required/],
    ["a resource type with a slash", { resource: { type: "a/b", id: "1" } }, /resource.type must be/],
    [
      "a context of 240 KB",
      { context: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, "x".repeat(8_000)])) },
      /context is larger than 32768 bytes/,
    ],
  ])("rejects %s with INVALID_ARGUMENT and a clear message", async (_, override, message) => {
    const token = await t.issuer.token();
    const result = await t.client.call({ token, action: "invoices:read", ...override });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(result.details).toMatch(message);
    expect((await t.client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");
  });

  it("rejects a context nested deeper than the limit with INVALID_ARGUMENT", async () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 12; i++) deep = { nested: deep };
    const result = await t.client.call({ token: await t.issuer.token(), action: "invoices:read", context: deep as never });
    expect(result).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
  });

  it.each([50, 200])("rejects a context Struct nested %i levels deep (past protobuf's decoding limit) with INVALID_ARGUMENT, not INTERNAL", async (depth) => {
    const token = await t.issuer.token();
    const resource = Buffer.concat([field(1, Buffer.from("invoice")), field(2, Buffer.from("inv-1"))]);
    // CheckRequest {token 1, action 2, resource 3, context 4}; CheckBatchRequest {token 1, items 2: {action 1, resource 2, context 3}}
    const check = Buffer.concat([field(1, Buffer.from(token)), field(2, Buffer.from("invoices:read")), field(3, resource), field(4, deepStruct(depth))]);
    const item = Buffer.concat([field(1, Buffer.from("invoices:read")), field(2, resource), field(3, deepStruct(depth))]);
    const batch = Buffer.concat([field(1, Buffer.from(token)), field(2, item)]);
    for (const [method, bytes] of [
      ["Check", check],
      ["CheckBatch", batch],
    ] as const) {
      const result = await rawUnary(t.address, method, bytes, t.apiKey);
      expect(result).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
      if (!result.ok) expect(result.details).toMatch(/could not be decoded.*nest at most/);
    }
    expect((await t.client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");
  });
});

/** google.protobuf.Struct {"a": {"a": ... {"leaf": "x"}}}, `depth` objects deep, encoded by hand. */
function deepStruct(depth: number): Buffer {
  // Struct.fields (1) is a map entry {key (1), value (2): Value}; Value.string_value is 3, struct_value 5.
  let struct = field(1, Buffer.concat([field(1, Buffer.from("leaf")), field(2, field(3, Buffer.from("x")))]));
  for (let i = 0; i < depth; i++) struct = field(1, Buffer.concat([field(1, Buffer.from("a")), field(2, field(5, struct))]));
  return struct;
}

describe("health", () => {
  it("answers SERVING for the service on grpc.health.v1.Health", async () => {
    expect(await grpcHealth(t.address, "verdict.v1.PolicyDecisionService")).toBe("SERVING");
  });

  it("lists every service it serves with its status, and answers NOT_FOUND for one it does not know", async () => {
    expect(await grpcHealthList(t.address)).toEqual({
      "": "SERVING",
      "verdict.v1.PolicyDecisionService": "SERVING",
      "verdict.v1.AuditService": "SERVING",
      "verdict.v1.AdminService": "SERVING",
      "verdict.v1.ApprovalService": "SERVING",
    });
    await expect(grpcHealth(t.address, "no.such.Service")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });
});
