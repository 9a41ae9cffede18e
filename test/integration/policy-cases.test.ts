// Every case of the shared table (policies/testdata/decisions_test.json, also run
// by opa test) through the compiled WASM bundle and Verdict's output validation,
// as the server runs them: what is tested is what runs.
import { beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { compareCase, loadBundle, PolicyEngine } from "../../src/policy/index.js";
import { caseInput, loadCaseTable, objectUnion } from "../support/cases.js";

const table = loadCaseTable();
let engine: PolicyEngine;

beforeAll(async () => {
  engine = await PolicyEngine.load(await loadBundle(inject("bundlePath")));
});

describe("the decision case table through WASM", () => {
  it("has cases, each with a unique name", () => {
    expect(table.decision_cases.length).toBeGreaterThanOrEqual(50);
    expect(new Set(table.decision_cases.map((c) => c.name)).size).toBe(table.decision_cases.length);
  });

  it("merges case inputs like Rego's object.union: objects merge, other values replace", () => {
    expect(objectUnion({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 })).toEqual({ a: { b: 1, c: [3] }, d: 1, e: 2 });
  });

  it.each(table.decision_cases.map((c) => [c.name, c] as const))("%s", async (_, c) => {
    // the same comparison `verdict policy test` makes: each expected field against the decision
    const decision = await engine.decide(caseInput(table, c));
    expect(compareCase(engine, c.expect, decision)).toEqual([]);
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
