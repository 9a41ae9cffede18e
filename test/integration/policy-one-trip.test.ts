// A decision that needs no state is made in one trip to an evaluation worker; one
// that needs state gets its queries first, and its decision after the read.
import { describe, expect, inject, it } from "vitest";
import { loadBundle, PolicyEngine, type PolicyInput } from "../../src/policy/index.js";

const input = (action: string, context = {}): PolicyInput => ({
  action,
  resource: { type: "account", id: "a", attributes: {} },
  context,
  principal: {
    subject: "u",
    client_id: "web-app",
    client_type: "",
    actors: [],
    delegation_depth: 0,
    scopes: ["invoices:read", "payments:write"],
    issuer: "i",
    token_id: "j",
    expires_at: 2e9,
  },
  caller: { api: "invoices-api", audience: "https://invoices.example" },
  state: {},
  now: 1_700_000_000,
});

describe("the first step of a decision", () => {
  it("returns the decision itself when the policy needs no state", async () => {
    const engine = await PolicyEngine.load(await loadBundle(inject("bundlePath")));
    try {
      const first = await engine.begin(input("invoices:read"));
      expect(first.queries).toEqual([]);
      expect(first.decision?.effect).toBe("allow");
    } finally {
      await engine.close();
    }
  });

  it("returns only the queries when the policy needs state, so that it decides on what was read", async () => {
    const engine = await PolicyEngine.load(await loadBundle(inject("bundlePath")));
    try {
      const first = await engine.begin(input("payments:transfer", { amount: 100 }));
      expect(first.queries.map((q) => q.name)).toEqual(["spent_today"]);
      expect(first.decision).toBeUndefined();
      const decided = await engine.decide({ ...input("payments:transfer", { amount: 100 }), state: { spent_today: 950 } });
      expect(decided.reasons.map((r) => r.code)).toEqual(["limit_exceeded"]);
    } finally {
      await engine.close();
    }
  });
});
