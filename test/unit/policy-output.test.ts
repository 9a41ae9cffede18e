import { describe, expect, it } from "vitest";
import { parseDecision, PolicyError } from "../../src/policy/index.js";

const reserve = { type: "reserve", key: ["payments", "user-1"], amount: 100, limit: 1000, window: "day" };

describe("policy output validation", () => {
  it("reads a well-formed allow with a reserve obligation", () => {
    expect(parseDecision({ effect: "allow", reasons: [], obligations: [reserve] })).toEqual({
      effect: "allow",
      reasons: [],
      requiredScopes: [],
      obligations: [{ ...reserve, window: { kind: "calendar", unit: "day" }, reason: { code: "limit_exceeded", message: "The request would exceed a limit." } }],
      explain: [],
    });
  });

  it("reads the rules that fired", () => {
    const hit = { kind: "deny", rule: "transactions.per_transaction", code: "limit_exceeded", message: "too much" };
    expect(parseDecision({ effect: "deny", reasons: [{ code: "limit_exceeded" }], explain: [hit] }).explain).toEqual([hit]);
  });

  it("reads a step-up with acr_values and max_age", () => {
    const decision = parseDecision({ effect: "step_up", reasons: [{ code: "step_up_required", message: "m" }], step_up: { acr_values: ["mfa"], max_age: 300 } });
    expect(decision.stepUp).toEqual({ acrValues: ["mfa"], maxAge: 300 });
  });

  it.each([
    ["undefined", undefined],
    ["a string", "allow"],
    ["an unknown effect", { effect: "permit" }],
    ["a deny without reasons", { effect: "deny", reasons: [] }],
    ["a reason code with spaces", { effect: "deny", reasons: [{ code: "not allowed" }] }],
    ["a step-up without acr_values", { effect: "step_up", reasons: [{ code: "x" }], step_up: {} }],
    ["a negative max_age", { effect: "step_up", reasons: [{ code: "x" }], step_up: { acr_values: ["mfa"], max_age: -1 } }],
    ["an unknown obligation", { effect: "allow", obligations: [{ type: "launch" }] }],
    ["a reserve of a negative amount", { effect: "allow", obligations: [{ ...reserve, amount: -5 }] }],
    ["a reserve with an object in its key", { effect: "allow", obligations: [{ ...reserve, key: [{ $gt: "" }] }] }],
    ["a reserve with an empty key", { effect: "allow", obligations: [{ ...reserve, key: [] }] }],
    ["a reserve with an unknown window", { effect: "allow", obligations: [{ ...reserve, window: "fortnight" }] }],
    ["required_scopes that are not strings", { effect: "deny", reasons: [{ code: "x" }], required_scopes: [1] }],
    ["explain that is not an array", { effect: "allow", explain: {} }],
    ["an explain entry of an unknown kind", { effect: "allow", explain: [{ kind: "maybe", rule: "a.b", code: "x" }] }],
    ["an explain entry without a rule", { effect: "allow", explain: [{ kind: "deny", code: "x" }] }],
    ["an explain entry whose rule has spaces", { effect: "allow", explain: [{ kind: "deny", rule: "a rule", code: "x" }] }],
    ["an explain of more than 256 entries", { effect: "allow", explain: Array.from({ length: 257 }, () => ({ kind: "deny", rule: "a.b", code: "x" })) }],
  ])("refuses %s as a policy error", (_, raw) => {
    expect(() => parseDecision(raw)).toThrow(PolicyError);
  });
});
