// The decision case table shared by opa test and vitest
// (policies/testdata/decisions_test.json), and object.union's merge, so that both
// build exactly the same inputs.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { defaultPolicyDir } from "../../src/paths.js";
import type { PolicyInput } from "../../src/policy/index.js";

export interface DecisionCase {
  name: string;
  input: Record<string, unknown>;
  expect: {
    effect: "allow" | "deny" | "step_up";
    reasons: string[];
    step_up?: { acr_values: string[]; max_age?: number };
    required_scopes?: string[];
    rules?: string[];
    reserves?: { key: string[]; amount: number; limit: number }[];
    rates?: { key: string[]; limit: number }[];
    once?: string[][];
    /** The decision's approval request (docs/approvals.md). */
    approval?: { fields: string[]; expires_in: number; acr_values: string[]; max_age?: number };
  };
}

export interface CaseTable {
  base_input: PolicyInput;
  decision_cases: DecisionCase[];
}

export const caseTablePath = join(defaultPolicyDir, "testdata", "decisions_test.json");

export function loadCaseTable(): CaseTable {
  return JSON.parse(readFileSync(caseTablePath, "utf8")) as CaseTable;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Rego's object.union: objects merge key by key (recursively), anything else is replaced. */
export function objectUnion(a: unknown, b: unknown): unknown {
  if (!isObject(a) || !isObject(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) out[key] = key in a ? objectUnion(a[key], value) : value;
  return out;
}

export function caseInput(table: CaseTable, c: DecisionCase): PolicyInput {
  return objectUnion(table.base_input, c.input) as PolicyInput;
}
