// The demo policy's cases through the compiled WASM bundle, as the server runs it.
import { beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { loadBundle, PolicyEngine, type PolicyInput } from "../../src/policy/index.js";

let engine: PolicyEngine;

beforeAll(async () => {
  engine = await PolicyEngine.load(await loadBundle(inject("bundlePath")));
});

function input(action: string, principal: Partial<PolicyInput["principal"]>, context: PolicyInput["context"] = {}): PolicyInput {
  return {
    action,
    resource: { type: "invoice", id: "inv-1", attributes: {} },
    context,
    principal: { subject: "user-1", client_id: "agent-1", client_type: "ai-agent", actors: [], delegation_depth: 0, scopes: [], issuer: "i", expires_at: 2e9, issued_at: 1.7e9, ...principal },
    caller: { api: "invoices-api", audience: "https://invoices.example" },
    state: {},
    now: 1_700_000_000,
  };
}

describe("demo policy through WASM", () => {
  it("carries the content-hash revision of its sources", () => {
    expect(engine.revision).toMatch(/^sha256:[0-9a-f]{16}$/);
  });

  it.each([
    ["invoices:read with its scope", input("invoices:read", { scopes: ["invoices:read"] }), "allow", []],
    ["invoices:read without it", input("invoices:read", { scopes: [] }), "deny", ["insufficient_scope"]],
    ["an unknown action", input("invoices:burn", { scopes: ["invoices:read"] }), "deny", ["action_unknown"]],
    ["a dispute without invoices:write", input("invoices:dispute", { scopes: ["invoices:read"], acr: "mfa" }), "deny", ["insufficient_scope"]],
    ["a dispute at password level", input("invoices:dispute", { scopes: ["invoices:write"], acr: "pwd" }), "step_up", ["step_up_required"]],
    ["a dispute with MFA", input("invoices:dispute", { scopes: ["invoices:write"], acr: "mfa" }), "allow", []],
    ["a transfer at the per-transaction limit", input("payments:transfer", { scopes: ["payments:write"] }, { amount: 500 }), "allow", []],
    ["a transfer one over it", input("payments:transfer", { scopes: ["payments:write"] }, { amount: 501 }), "deny", ["limit_exceeded"]],
    ["a transfer without an amount", input("payments:transfer", { scopes: ["payments:write"] }), "deny", ["amount_invalid"]],
    ["a transfer with a query operator as amount", input("payments:transfer", { scopes: ["payments:write"] }, { amount: { $gt: 0 } }), "deny", ["amount_invalid"]],
  ])("%s", async (_, policyInput, effect, codes) => {
    const decision = await engine.decide(policyInput);
    expect(decision.effect).toBe(effect);
    expect(decision.reasons.map((r) => r.code)).toEqual(codes);
  });

  it("names the missing scope and asks for MFA in the challenge data", async () => {
    expect((await engine.decide(input("invoices:dispute", { scopes: [] }))).requiredScopes).toEqual(["invoices:write"]);
    expect((await engine.decide(input("invoices:dispute", { scopes: ["invoices:write"] }))).stepUp).toEqual({ acrValues: ["mfa"] });
  });

  it("asks Verdict to reserve a transfer against the user's daily limit", async () => {
    const decision = await engine.decide(input("payments:transfer", { scopes: ["payments:write"] }, { amount: 100 }));
    expect(decision.obligations).toEqual([
      expect.objectContaining({ type: "reserve", key: ["payments:transfer", "daily_per_user", "user-1"], amount: 100, limit: 1000 }),
    ]);
  });
});
