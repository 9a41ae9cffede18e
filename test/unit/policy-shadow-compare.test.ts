import { describe, expect, it } from "vitest";
import { compareVerdicts, failedVerdict, policyVerdict, type PolicyDecision } from "../../src/policy/index.js";

const reserve = (limit: number) => ({
  type: "reserve" as const,
  key: ["payments:transfer", "daily_per_user", "u"],
  amount: 100,
  limit,
  window: { kind: "calendar" as const, unit: "day" as const },
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
