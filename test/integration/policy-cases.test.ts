// Every case of the shared table (policies/testdata/decisions_test.json, also run
// by opa test) through the compiled WASM bundle and Verdict's output validation,
// as the server runs them: what is tested is what runs.
import { beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { loadBundle, PolicyEngine, type PolicyDecision } from "../../src/policy/index.js";
import { caseInput, loadCaseTable, objectUnion } from "../support/cases.js";

const table = loadCaseTable();
let engine: PolicyEngine;

beforeAll(async () => {
  engine = await PolicyEngine.load(await loadBundle(inject("bundlePath")));
});

/** The obligations in the policy's own terms ({type, key, amount, limit, window, ...}), as `verdict policy eval` shows them. */
const summaries = (decision: PolicyDecision) => decision.obligations.map((o) => engine.obligations.summary(o));

function reserves(decision: PolicyDecision) {
  return summaries(decision).flatMap((o) => (o["type"] === "reserve" ? [{ key: o["key"], amount: o["amount"], limit: o["limit"] }] : []));
}

function rates(decision: PolicyDecision) {
  return summaries(decision).flatMap((o) => (o["type"] === "rate" ? [{ key: o["key"], limit: o["limit"] }] : []));
}

function onceKeys(decision: PolicyDecision) {
  return decision.obligations.flatMap((o) => (o.type === "once" ? [o.key] : []));
}

const byJson = <T>(items: T[]) => [...items].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

describe("the decision case table through WASM", () => {
  it("has cases, each with a unique name", () => {
    expect(table.decision_cases.length).toBeGreaterThanOrEqual(50);
    expect(new Set(table.decision_cases.map((c) => c.name)).size).toBe(table.decision_cases.length);
  });

  it("merges case inputs like Rego's object.union: objects merge, other values replace", () => {
    expect(objectUnion({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 })).toEqual({ a: { b: 1, c: [3] }, d: 1, e: 2 });
  });

  it.each(table.decision_cases.map((c) => [c.name, c] as const))("%s", async (_, c) => {
    const decision = await engine.decide(caseInput(table, c));
    expect(decision.effect).toBe(c.expect.effect);
    expect(decision.reasons.map((r) => r.code).sort()).toEqual([...c.expect.reasons].sort());
    expect(byJson(reserves(decision))).toEqual(byJson(c.expect.reserves ?? []));
    if (c.expect.rates) expect(byJson(rates(decision))).toEqual(byJson(c.expect.rates));
    if (c.expect.once) expect(byJson(onceKeys(decision))).toEqual(byJson(c.expect.once));
    if (c.expect.step_up) {
      const { acr_values, max_age } = c.expect.step_up;
      expect(decision.stepUp).toEqual({ acrValues: acr_values, ...(max_age !== undefined ? { maxAge: max_age } : {}) });
    }
    if (c.expect.approval) {
      const { fields, expires_in, acr_values, max_age } = c.expect.approval;
      expect(decision.approval).toEqual({
        fields,
        expiresInSeconds: expires_in,
        acrValues: acr_values,
        ...(max_age !== undefined ? { maxAge: max_age } : {}),
        approvers: [],
        authorizationDetails: [],
      });
    }
    if (c.expect.required_scopes) expect(decision.requiredScopes).toEqual(c.expect.required_scopes);
    if (c.expect.rules) expect(decision.explain.map((h) => `${h.kind} ${h.rule}`).sort()).toEqual(c.expect.rules);
    expect(decision.explain.every((h) => h.rule !== "unnamed")).toBe(true);
  });
});

describe("the compiled bundle", () => {
  it("carries the content-hash revision of its sources", () => {
    expect(engine.revision).toMatch(/^sha256:[0-9a-f]{16}$/);
  });

  it("exposes the bundle's data for reading, without the test data", () => {
    expect(Object.keys(engine.data)).toEqual(["settings"]);
  });

  it("reports every rule that fired even when a deny wins", async () => {
    const c = table.decision_cases.find((x) => x.name === "a human's transfer one over the per-transaction limit is denied");
    if (!c) throw new Error("case missing from the table");
    const decision = await engine.decide(caseInput(table, c));
    expect(decision.explain).toEqual([
      { kind: "deny", rule: "transactions.per_transaction", code: "limit_exceeded", message: "a single payments:transfer may not exceed 500" },
      expect.objectContaining({ kind: "obligation", rule: "transactions.daily_per_user", code: "reserve" }),
    ]);
  });
});
