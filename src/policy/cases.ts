// The decision case table (testdata/decisions_test.json) run through a compiled
// bundle exactly as the server runs it: opa-wasm in the bounded workers, then
// Verdict's output validation with the obligation registry's parsers. A case
// fails with what was expected beside what came out, field by field.
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { Node as JsonNode } from "jsonc-parser";
import type { PolicyEngine } from "./engine.js";
import type { PolicyInput } from "./input.js";
import type { PolicyDecision } from "./output.js";
import { PolicyError } from "./output.js";
import { parseJsonFile, validateAgainst, type JsonProblem, type SchemaNode } from "./schema.js";

export const CASE_TABLE = join("testdata", "decisions_test.json");

export interface DecisionCase {
  name: string;
  input: Record<string, unknown>;
  expect: CaseExpectation;
}

export interface CaseExpectation {
  effect: "allow" | "deny" | "step_up";
  reasons: string[];
  step_up?: { acr_values: string[]; max_age?: number };
  /** A step-up's approval request (docs/approvals.md), in the policy's terms; scopes, approvers and authorization details when not empty. */
  approval?: {
    fields: string[];
    expires_in: number;
    acr_values: string[];
    max_age?: number;
    scopes?: string[];
    approvers?: unknown[];
    authorization_details?: unknown[];
  };
  required_scopes?: string[];
  rules?: string[];
  reserves?: { key: string[]; amount: number; limit: number }[];
  rates?: { key: string[]; limit: number }[];
  once?: string[][];
  /** Every obligation with every field, as `verdict policy eval` shows them (type, key, amount, limit, window, ...). */
  obligations?: Record<string, unknown>[];
}

export interface CaseTable {
  base_input: Record<string, unknown>;
  decision_cases: DecisionCase[];
}

/** What a failing case printed: each field that differs, expected beside actual. */
export interface CaseFailure {
  name: string;
  line: number;
  differences: { field: string; expected: unknown; actual: unknown }[];
  /** The decision as it came out (or the policy_error), for the report. */
  actual: Record<string, unknown>;
}

export interface CaseRun {
  file: string;
  passed: number;
  failures: CaseFailure[];
}

const TABLE_SCHEMA: SchemaNode = {
  type: "object",
  required: ["base_input", "decision_cases"],
  properties: {
    description: { type: "string" },
    base_input: { type: "object" },
    decision_cases: {
      type: "array",
      items: {
        type: "object",
        required: ["name", "input", "expect"],
        additionalProperties: false,
        properties: {
          name: { type: "string", minLength: 1 },
          input: { type: "object" },
          expect: {
            type: "object",
            required: ["effect", "reasons"],
            additionalProperties: false,
            properties: {
              effect: { enum: ["allow", "deny", "step_up"] },
              reasons: { type: "array", items: { type: "string" } },
              step_up: { type: "object" },
              approval: { type: "object" },
              required_scopes: { type: "array", items: { type: "string" } },
              rules: { type: "array", items: { type: "string" } },
              reserves: { type: "array", items: { type: "object" } },
              rates: { type: "array", items: { type: "object" } },
              once: { type: "array", items: { type: "array" } },
              obligations: { type: "array", items: { type: "object" } },
            },
          },
        },
      },
    },
  },
};

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

export interface LoadedTable {
  file: string;
  table: CaseTable;
  /** The line of each case, for reports. */
  lines: number[];
}

/**
 * Reads and checks a policy directory's case table: its shape, and each case's
 * input (merged over base_input) against the input schema when there is one.
 * Undefined when the directory has none.
 */
export function loadCaseTable(policyDir: string, inputSchema?: SchemaNode): { loaded?: LoadedTable; problems: JsonProblem[] } {
  const path = join(policyDir, CASE_TABLE);
  if (!existsSync(path)) return { problems: [] };
  const parsed = parseJsonFile(path, policyDir);
  if ("problem" in parsed) return { problems: [parsed.problem] };
  const file = relative(policyDir, path);
  const where = { file, text: parsed.text, tree: parsed.tree };
  const problems = validateAgainst(TABLE_SCHEMA, parsed.value, { ...where, prefix: [] });
  if (problems.length > 0) return { problems };
  const table = parsed.value as CaseTable;
  const casesNode = parsed.tree.children?.find((p) => p.children?.[0]?.value === "decision_cases")?.children?.[1];
  const lines = table.decision_cases.map((_, i) => lineOf(parsed.text, casesNode?.children?.[i]));
  if (inputSchema) {
    table.decision_cases.forEach((c, i) => {
      // null stands for a field the request lacks (object.union cannot remove base_input's)
      for (const problem of validateAgainst(inputSchema, withoutNulls(caseInput(table, c)), { ...where, prefix: ["decision_cases", i, "input"] })) {
        problems.push({
          ...problem,
          message: `case "${c.name}": input ${problem.path.replace(/^decision_cases\[\d+\]\.input\.?/, "") || "(root)"} ${problem.message}`,
        });
      }
    });
  }
  return { loaded: { file, table, lines }, problems };
}

function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.entries(value).flatMap(([k, v]) => (v === null ? [] : [[k, withoutNulls(v)]])));
}

function lineOf(text: string, node: JsonNode | undefined): number {
  if (!node) return 0;
  let line = 1;
  for (let i = 0; i < node.offset; i++) if (text.charCodeAt(i) === 10) line += 1;
  return line;
}

const byJson = <T>(items: T[]) => [...items].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

/** The decision in the case table's terms, every field (obligations as their type summarises them). */
export function decisionView(engine: PolicyEngine, decision: PolicyDecision): Record<string, unknown> {
  return {
    effect: decision.effect,
    reasons: decision.reasons.map((r) => r.code).sort(),
    ...(decision.stepUp
      ? { step_up: { acr_values: decision.stepUp.acrValues, ...(decision.stepUp.maxAge !== undefined ? { max_age: decision.stepUp.maxAge } : {}) } }
      : {}),
    ...(decision.approval ? { approval: approvalView(decision.approval) } : {}),
    required_scopes: decision.requiredScopes,
    rules: decision.explain.map((h) => `${h.kind} ${h.rule}`).sort(),
    obligations: decision.obligations.map((o) => ({ ...engine.obligations.summary(o), reason: o.reason.code })),
  };
}

function approvalView(approval: NonNullable<PolicyDecision["approval"]>): Record<string, unknown> {
  return {
    fields: approval.fields,
    expires_in: approval.expiresInSeconds,
    acr_values: approval.acrValues,
    ...(approval.maxAge !== undefined ? { max_age: approval.maxAge } : {}),
    ...(approval.scopes.length > 0 ? { scopes: approval.scopes } : {}),
    ...(approval.approvers.length > 0 ? { approvers: approval.approvers } : {}),
    ...(approval.authorizationDetails.length > 0 ? { authorization_details: approval.authorizationDetails } : {}),
  };
}

/** Each expected field against what the decision says; the differences. */
export function compareCase(engine: PolicyEngine, expect: CaseExpectation, decision: PolicyDecision): CaseFailure["differences"] {
  const view = decisionView(engine, decision);
  const summaries = decision.obligations.map((o) => engine.obligations.summary(o));
  const of = (type: string) => summaries.filter((o) => o["type"] === type);
  const checks: [string, unknown, unknown][] = [
    ["effect", expect.effect, view["effect"]],
    ["reasons", [...expect.reasons].sort(), view["reasons"]],
    ["reserves", byJson(expect.reserves ?? []), byJson(of("reserve").map((o) => ({ key: o["key"], amount: o["amount"], limit: o["limit"] })))],
  ];
  if (expect.rates) checks.push(["rates", byJson(expect.rates), byJson(of("rate").map((o) => ({ key: o["key"], limit: o["limit"] })))]);
  if (expect.once) checks.push(["once", byJson(expect.once), byJson(of("once").map((o) => o["key"]))]);
  if (expect.step_up) checks.push(["step_up", expect.step_up, view["step_up"] ?? null]);
  if (expect.approval) checks.push(["approval", expect.approval, view["approval"] ?? null]);
  if (expect.required_scopes) checks.push(["required_scopes", expect.required_scopes, view["required_scopes"]]);
  if (expect.rules) checks.push(["rules", [...expect.rules].sort(), view["rules"]]);
  if (expect.obligations) checks.push(["obligations", byJson(expect.obligations), byJson(summaries)]);
  const unnamed = decision.explain.filter((h) => h.rule === "unnamed");
  if (unnamed.length > 0) checks.push(["rules named", "every explain entry names its rule", unnamed.map((h) => `${h.kind} ${h.code}`)]);
  return checks.filter(([, expected, actual]) => !isDeepStrictEqual(expected, actual)).map(([field, expected, actual]) => ({ field, expected, actual }));
}

/** Runs every case through the engine; a policy_error is a failure that says why (and which rule). */
export async function runCases(engine: PolicyEngine, loaded: LoadedTable, filter?: RegExp): Promise<CaseRun> {
  const failures: CaseFailure[] = [];
  let passed = 0;
  for (const [i, c] of loaded.table.decision_cases.entries()) {
    if (filter && !filter.test(c.name)) continue;
    const line = loaded.lines[i] ?? 0;
    try {
      // as the server does: the state queries first (validated, then answered by the case's input.state), then the decision
      const input = caseInput(loaded.table, c);
      await engine.stateQueries(input);
      const decision = await engine.decide(input);
      const differences = compareCase(engine, c.expect, decision);
      if (differences.length === 0) passed += 1;
      else failures.push({ name: c.name, line, differences, actual: decisionView(engine, decision) });
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      failures.push({
        name: c.name,
        line,
        differences: [{ field: "effect", expected: c.expect.effect, actual: "deny (policy_error)" }],
        actual: { effect: "deny", reasons: ["policy_error"], policy_error: error.message, ...(error.rule ? { rule: error.rule } : {}) },
      });
    }
  }
  return { file: loaded.file, passed, failures };
}

/** A failure as a person reads it: the case, then each field expected against actual. */
export function formatFailure(failure: CaseFailure, file: string): string {
  const lines = [`FAIL ${file}:${failure.line} "${failure.name}"`];
  for (const d of failure.differences) {
    lines.push(`  ${d.field}:`, `    expected ${JSON.stringify(d.expected)}`, `    actual   ${JSON.stringify(d.actual)}`);
  }
  if (typeof failure.actual["policy_error"] === "string") lines.push(`  the policy failed: ${failure.actual["policy_error"]}`);
  else lines.push(`  decision: ${JSON.stringify(failure.actual)}`);
  return lines.join("\n");
}
