// Which keys of data.settings the Rego modules read, found in opa's own parse of
// each module and resolved against the settings schema. Two fail-open mistakes
// build cleanly without it: a rule that reads a key the schema does not declare
// (a misspelling: always undefined, so the rule never fires), and a declared key
// that nothing reads (a setting an author believes is in force). opa's type
// checker stops at map-valued settings (per action), where most keys live.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { SchemaNode } from "./schema.js";
import { childSchema, describeKeys, schemaKeys } from "./schema.js";

const run = promisify(execFile);

/** A problem in a policy source, with where it is. */
export interface SourceProblem {
  file: string;
  line: number;
  /** The data or input path concerned, e.g. settings.bulk.*.agent_step_up_ovr. */
  path: string;
  message: string;
}

interface Term {
  type: string;
  value: unknown;
  location?: { file: string; row: number; col: number };
}

interface Expr {
  /** A call's terms, one term, or a `some` declaration ({symbols: [call]}). */
  terms: Term | Term[] | { symbols: Term[] };
  negated?: boolean;
}

interface Rule {
  head: { ref?: Term[]; name?: string; value?: Term; key?: Term; args?: Term[] };
  body: Expr[];
  else?: Rule;
}

interface Module {
  rules?: Rule[];
}

/** Builtins that test a value's presence or type without reading it. */
const SHALLOW = new Set(["is_object", "is_array", "is_number", "is_string", "is_boolean", "is_null", "is_set", "type_name"]);

/** Parses each module with the pinned opa (its AST as JSON, with locations). */
export async function parseModules(opa: string, files: string[]): Promise<Module[]> {
  return Promise.all(
    files.map(async (file) => {
      const { stdout } = await run(opa, ["parse", "--format", "json", "--json-include", "locations,-comments", file], { maxBuffer: 64 * 1024 * 1024 });
      return JSON.parse(stdout) as Module;
    }),
  );
}

/** Keys read that the schema does not declare, and declared keys that nothing reads. */
export function checkDataKeys(modules: Module[], settings: SchemaNode): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const read = new Set<string>();
  const aliases = new Map<string, Resolved>();

  // Rules whose value is a piece of settings (bulk := data.settings.bulk[input.action]), to a fixpoint.
  for (let changed = true; changed;) {
    changed = false;
    for (const module of modules)
      for (const rule of module.rules ?? []) {
        const name = ruleName(rule);
        if (!name || rule.head.args || rule.head.key || !rule.head.value || aliases.has(name)) continue;
        const resolved = resolve(rule.head.value, settings, aliases, new Map(), undefined);
        if (resolved) {
          aliases.set(name, resolved);
          changed = true;
        }
      }
  }

  const visitRule = (rule: Rule) => {
    const locals = new Map<string, Resolved>();
    const report = (term: Term, path: string, key: string, node: SchemaNode) =>
      problems.push({
        file: term.location?.file ?? "?",
        line: term.location?.row ?? 0,
        path: `settings${path ? "." + path : ""}.${key}`,
        message: `reads data.settings${path ? "." + path : ""}.${key}, which the settings schema does not declare (${describeKeys(node)})`,
      });
    const ctx: Context = { settings, aliases, locals, read, report };
    for (const expr of rule.body) visitExpr(expr, ctx);
    if (rule.head.value && !aliases.has(ruleName(rule) ?? "")) visit(rule.head.value, ctx, "value");
    else if (rule.head.value) resolve(rule.head.value, settings, aliases, locals, ctx);
    if (rule.head.key) visit(rule.head.key, ctx, "value");
    for (const arg of rule.head.args ?? []) visit(arg, ctx, "value");
    if (rule.else) visitRule(rule.else);
  };
  for (const module of modules) for (const rule of module.rules ?? []) visitRule(rule);

  for (const path of schemaKeys(settings, settings, "", true)) {
    if ([...read].some((r) => r === path || path.startsWith(r + ".") || r.startsWith(path + "."))) continue;
    problems.push({ file: "schemas/settings.json", line: 0, path: `settings.${path}`, message: `data.settings.${path} is declared but no rule reads it` });
  }
  return problems;
}

interface Resolved {
  node: SchemaNode;
  path: string;
}

interface Context {
  settings: SchemaNode;
  aliases: Map<string, Resolved>;
  locals: Map<string, Resolved>;
  read: Set<string>;
  report(term: Term, path: string, key: string, node: SchemaNode): void;
}

function ruleName(rule: Rule): string | undefined {
  const ref = rule.head.ref;
  if (ref && ref.length === 1 && ref[0]?.type === "var") return ref[0].value as string;
  return rule.head.name;
}

function operator(call: Term[]): string {
  const head = call[0];
  if (head?.type !== "ref") return "";
  return (head.value as Term[]).map((t) => String(t.value)).join(".");
}

/** `x := <settings>` and `some k, v in <settings>` name a piece of settings for the rest of the body. */
function bindLocals(expr: Expr, ctx: Context): void {
  const terms = expr.terms;
  if ("symbols" in terms) return;
  if (!Array.isArray(terms)) {
    if (terms.type === "call") bindLocals({ terms: terms.value as Term[] }, ctx);
    return;
  }
  const op = operator(terms);
  if ((op === "assign" || op === "eq") && terms[1]?.type === "var" && terms[2]) {
    const resolved = resolve(terms[2], ctx.settings, ctx.aliases, ctx.locals, ctx);
    if (resolved) ctx.locals.set(terms[1].value as string, resolved);
  }
  if (op === "internal.member_2" || op === "internal.member_3") {
    const domain = terms[terms.length - 1];
    const value = terms[terms.length - 2];
    const resolved = domain ? resolve(domain, ctx.settings, ctx.aliases, ctx.locals, ctx) : undefined;
    const element = resolved ? childSchema(resolved.node, undefined) : undefined;
    if (resolved && element && value?.type === "var") ctx.locals.set(value.value as string, { node: element, path: `${resolved.path}.*` });
  }
}

/**
 * Visits a term: every ref into settings is checked, and marked read when it is
 * used as a value (compared, iterated, handed to a function). Testing that a
 * piece of settings exists (`bulk` alone, is_object(bulk)) or naming it
 * (`x := data.settings.y`) reads none of its keys.
 */
function visit(term: Term, ctx: Context, role: "value" | "presence"): void {
  const resolved = term.type === "ref" || term.type === "var" || term.type === "call" ? resolve(term, ctx.settings, ctx.aliases, ctx.locals, ctx) : undefined;
  if (resolved && role === "value") ctx.read.add(resolved.path);
  switch (term.type) {
    case "ref":
      for (const part of (term.value as Term[]).slice(1)) if (part.type !== "string") visit(part, ctx, "value");
      return;
    case "call": {
      const call = term.value as Term[];
      const op = operator(call);
      if (op === "object.get") {
        if (!resolved && call[1]) visit(call[1], ctx, "value");
        for (const arg of call.slice(3)) visit(arg, ctx, "value");
        return;
      }
      const naming =
        (op === "assign" || op === "eq") && call[1]?.type === "var" && call[2] && resolve(call[2], ctx.settings, ctx.aliases, ctx.locals, undefined);
      for (const [i, arg] of call.slice(1).entries())
        visit(arg, ctx, SHALLOW.has(op) && !(op === "eq" || op === "equal" || op === "neq") ? "presence" : naming && i === 1 ? "presence" : "value");
      return;
    }
    case "array":
    case "set":
      for (const item of term.value as Term[]) visit(item, ctx, "value");
      return;
    case "object":
      for (const [key, value] of term.value as [Term, Term][]) {
        visit(key, ctx, "value");
        visit(value, ctx, "value");
      }
      return;
    case "arraycomprehension":
    case "setcomprehension":
    case "objectcomprehension": {
      const body = (term.value as { body: Expr[] }).body;
      for (const expr of body) visitExpr(expr, ctx);
      const value = term.value as { term?: Term; key?: Term; value?: Term };
      for (const t of [value.term, value.key, value.value]) if (t) visit(t, ctx, "value");
      return;
    }
    default:
      return;
  }
}

/** One expression of a body: a lone term is a presence test, anything else is visited as values. */
function visitExpr(expr: Expr, ctx: Context): void {
  const terms = expr.terms;
  if ("symbols" in terms) {
    for (const symbol of terms.symbols) visitExpr({ terms: symbol }, ctx);
    return;
  }
  bindLocals(expr, ctx);
  if (Array.isArray(terms)) visit({ type: "call", value: terms }, ctx, "value");
  else visit(terms, ctx, terms.type === "call" ? "value" : "presence");
}

/** The piece of settings a term names, if it names one; reports keys the schema does not declare. */
function resolve(
  term: Term,
  settings: SchemaNode,
  aliases: Map<string, Resolved>,
  locals: Map<string, Resolved>,
  ctx: Context | undefined,
): Resolved | undefined {
  let parts: Term[];
  let start: Resolved | undefined;
  if (term.type === "var") return locals.get(term.value as string) ?? aliases.get(term.value as string);
  if (term.type === "call") {
    const call = term.value as Term[];
    if (operator(call) !== "object.get" || !call[1] || call[2]?.type !== "string") return undefined;
    const base = resolve(call[1], settings, aliases, locals, ctx);
    if (!base) return undefined;
    return step(base, call[2], ctx);
  }
  if (term.type !== "ref") return undefined;
  parts = term.value as Term[];
  const head = parts[0];
  if (head?.type !== "var") return undefined;
  if (head.value === "data") {
    if (parts[1]?.type !== "string" || parts[1].value !== "settings") return undefined;
    start = { node: settings, path: "" };
    parts = parts.slice(2);
  } else {
    start = locals.get(head.value as string) ?? aliases.get(head.value as string);
    parts = parts.slice(1);
  }
  let current: Resolved | undefined = start;
  for (const part of parts) {
    if (!current) return undefined;
    current = step(current, part, ctx);
  }
  return current;
}

function step(from: Resolved, part: Term, ctx: Context | undefined): Resolved | undefined {
  const key = part.type === "string" ? (part.value as string) : undefined;
  const node = childSchema(from.node, key);
  const join = (segment: string) => (from.path ? `${from.path}.${segment}` : segment);
  if (node) {
    const declared = key !== undefined && from.node.properties !== undefined && key in from.node.properties;
    return { node, path: join(declared ? key : "*") };
  }
  if (key !== undefined && ctx && from.node.properties && from.node.additionalProperties !== true) ctx.report(part, from.path, key, from.node);
  return undefined;
}
