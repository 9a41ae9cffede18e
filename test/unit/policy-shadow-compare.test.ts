import { describe, expect, it } from "vitest";
import { answerChanges, compareVerdicts, failedVerdict, policyVerdict, verdictChanges, type PolicyDecision } from "../../src/policy/index.js";

const reserve = (limit: number, key = ["payments:transfer", "daily_per_user", "u"], unit: "day" | "hour" = "day") => ({
  type: "reserve" as const,
  key,
  amount: 100,
  limit,
  window: { kind: "calendar" as const, unit },
  reason: { code: "limit_exceeded", message: "m" },
  onFailure: { effect: "deny" as const },
});
const decision = (over: Partial<PolicyDecision>): PolicyDecision => ({
  effect: "allow",
  reasons: [],
  requiredScopes: [],
  requiredAuthorizationDetails: [],
  obligations: [],
  explain: [],
  ...over,
});

describe("comparing an active and a shadow answer", () => {
  it("finds no difference when effect, reason codes and obligations are the same, whatever the messages and order", () => {
    const a = policyVerdict(
      "r1",
      decision({
        effect: "deny",
        reasons: [
          { code: "x", message: "one" },
          { code: "y", message: "two" },
        ],
      }),
    );
    const b = policyVerdict(
      "r2",
      decision({
        effect: "deny",
        reasons: [
          { code: "y", message: "other" },
          { code: "x", message: "words" },
        ],
      }),
    );
    expect(compareVerdicts(a, b)).toEqual([]);
  });

  it("names a different effect and different reasons", () => {
    const a = policyVerdict("r1", decision({}));
    const b = policyVerdict("r2", decision({ effect: "step_up", reasons: [{ code: "step_up_required", message: "m" }] }));
    expect(compareVerdicts(a, b)).toEqual(["effect", "reasons"]);
  });

  it("names different obligations, e.g. a changed limit, even when both allow", () => {
    const a = policyVerdict("r1", decision({ obligations: [reserve(1000)] }));
    const b = policyVerdict("r2", decision({ obligations: [reserve(800)] }));
    expect(compareVerdicts(a, b)).toEqual(["obligations"]);
  });

  it("treats a failed shadow as a deny with policy_error, keeping the error", () => {
    const failed = failedVerdict("r2", "verdict/decision is undefined for this input");
    expect(failed).toMatchObject({ effect: "deny", reasons: [{ code: "policy_error" }], error: "verdict/decision is undefined for this input" });
    expect(compareVerdicts(policyVerdict("r1", decision({})), failed)).toEqual(["effect", "reasons"]);
  });
});

describe("saying which fields differ", () => {
  it("names the effect with both values, and each reason code added or removed", () => {
    const a = policyVerdict("r1", decision({ effect: "step_up", reasons: [{ code: "amount_step_up_required", message: "m" }] }));
    const b = policyVerdict("r2", decision({ effect: "deny", reasons: [{ code: "limit_exceeded", message: "m" }] }));
    expect(verdictChanges(a, b)).toEqual([
      { field: "effect", from: "step_up", to: "deny" },
      { field: "reasons", from: "amount_step_up_required" },
      { field: "reasons", to: "limit_exceeded" },
    ]);
  });

  it("names a changed obligation field by the obligation's type and key, with both values", () => {
    const a = policyVerdict("r1", decision({ obligations: [reserve(1000)] }));
    const b = policyVerdict("r2", decision({ obligations: [reserve(800, undefined, "hour")] }));
    expect(verdictChanges(a, b)).toEqual([
      { field: "obligations[reserve payments:transfer/daily_per_user/u].limit", from: 1000, to: 800 },
      { field: "obligations[reserve payments:transfer/daily_per_user/u].window", from: "day", to: "hour" },
    ]);
  });

  it("names an obligation added or removed whole, and leaves the ones both ask for alone", () => {
    const other = ["payments:transfer", "daily_per_user_per_agent", "u", "agent-7"];
    const a = policyVerdict("r1", decision({ obligations: [reserve(1000), reserve(300, other)] }));
    const b = policyVerdict("r2", decision({ obligations: [reserve(1000)] }));
    expect(verdictChanges(a, b)).toEqual([
      {
        field: "obligations[reserve payments:transfer/daily_per_user_per_agent/u/agent-7]",
        from: { type: "reserve", key: other, amount: 100, limit: 300, window: "day" },
      },
    ]);
    expect(verdictChanges(b, a)).toEqual([
      {
        field: "obligations[reserve payments:transfer/daily_per_user_per_agent/u/agent-7]",
        to: { type: "reserve", key: other, amount: 100, limit: 300, window: "day" },
      },
    ]);
    expect(compareVerdicts(a, b)).toEqual(["obligations"]);
  });

  it("compares the set of reason codes: a code two rules give is one code", () => {
    const once = { effect: "deny", reasons: [{ code: "limit_exceeded" }], obligations: [] };
    const twice = { effect: "deny", reasons: [{ code: "limit_exceeded" }, { code: "limit_exceeded" }], obligations: [] };
    expect(answerChanges(once, twice)).toEqual([]);
    expect(answerChanges(twice, { ...once, reasons: [] })).toEqual([{ field: "reasons", from: "limit_exceeded" }]);
  });
});
