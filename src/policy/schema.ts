// The policy contract as JSON Schemas, beside a policy directory: schemas/input.json
// (what verdict/decision sees) and schemas/settings.json (data.settings). The data
// files are validated against settings.json here, with file, line and path, and
// `opa check --schema` checks the Rego against both (policy test). A directory
// without schemas/ is checked without them.
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { VerdictError } from "../errors/index.js";
import { findNodeAtLocation, parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from "jsonc-parser";

/** The subset of JSON Schema the contract's schemas use. */
export interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  $ref?: string;
  definitions?: Record<string, SchemaNode>;
  description?: string;
  required?: string[];
  enum?: unknown[];
  minLength?: number;
  /** "verdict": a setting Verdict reads itself (audit masking), not a rule: never reported as unread. */
  "x-read-by"?: string;
}

export const SCHEMA_DIR = "schemas";

export interface PolicySchemas {
  dir: string;
  input?: { file: string; schema: SchemaNode };
  settings?: { file: string; schema: SchemaNode };
}

/** A problem in a JSON file, located. */
export interface JsonProblem {
  file: string;
  line: number;
  column: number;
  /** The JSON path, e.g. settings.limits["payments:transfer"].daily_per_user. */
  path: string;
  message: string;
}

export class SchemaFileError extends VerdictError {
  constructor(message: string) {
    super("policy_command_failed", message);
  }
}

/** The schemas of a policy directory (schemas/input.json, schemas/settings.json), whichever exist. */
export function loadSchemas(policyDir: string): PolicySchemas {
  const dir = join(policyDir, SCHEMA_DIR);
  const out: PolicySchemas = { dir };
  for (const name of ["input", "settings"] as const) {
    const file = join(dir, `${name}.json`);
    if (!existsSync(file)) continue;
    const parsed = parseJsonFile(file, policyDir);
    if ("problem" in parsed) throw new SchemaFileError(`${parsed.problem.file}:${parsed.problem.line}: ${parsed.problem.message}`);
    out[name] = { file, schema: parsed.value as SchemaNode };
  }
  return out;
}

/** A JSON file parsed with its syntax tree (for line numbers), or its first syntax error, located. */
export function parseJsonFile(file: string, baseDir: string): { value: unknown; tree: JsonNode; text: string } | { problem: JsonProblem } {
  const text = readFileSync(file, "utf8");
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  const shown = relative(baseDir, file) || file;
  const first = errors[0];
  if (first || !tree) {
    const { line, column } = position(text, first?.offset ?? 0);
    return { problem: { file: shown, line, column, path: "", message: `not valid JSON: ${first ? printParseErrorCode(first.error) : "empty"}` } };
  }
  return { value: JSON.parse(text) as unknown, tree, text };
}

/** The syntax tree of JSON text known to be valid. */
export function jsonTree(text: string): JsonNode | undefined {
  return parseTree(text);
}

export function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line += 1;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** JSON path segments as an author reads them: a.b["payments:transfer"][0]. */
export function showPath(segments: (string | number)[]): string {
  return segments
    .map((s, i) => (typeof s === "number" ? `[${s}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? (i === 0 ? s : `.${s}`) : `[${JSON.stringify(s)}]`))
    .join("");
}

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new WeakMap<SchemaNode, ValidateFunction>();

function validator(schema: SchemaNode): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    // $id is left out: two policy directories may ship schemas with the same $id
    const { $id: _id, ...rest } = schema as SchemaNode & { $id?: string };
    fn = ajv.compile(rest);
    compiled.set(schema, fn);
  }
  return fn;
}

/**
 * Validates a value against a schema. Each error is located in the JSON file the
 * value came from (`tree`, with `prefix` the value's path in that file).
 */
export function validateAgainst(
  schema: SchemaNode,
  value: unknown,
  where: { file: string; text: string; tree: JsonNode; prefix: (string | number)[] },
): JsonProblem[] {
  const validate = validator(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((error) => locate(error, where));
}

function locate(error: ErrorObject, where: { file: string; text: string; tree: JsonNode; prefix: (string | number)[] }): JsonProblem {
  const segments = error.instancePath
    .split("/")
    .slice(1)
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  let message = error.message ?? "does not fit the schema";
  let target = [...where.prefix, ...segments];
  const params = error.params as { additionalProperty?: string; allowedValues?: unknown[] };
  if (error.keyword === "additionalProperties" && params.additionalProperty !== undefined) {
    target = [...target, params.additionalProperty];
    message = `${params.additionalProperty} is not a key the schema declares (misspelled?)`;
  } else if (error.keyword === "enum" && params.allowedValues) {
    message = `must be one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  // The deepest node of the path that exists in the file (a missing key is located at its parent).
  let node: JsonNode | undefined;
  for (let n = target.length; n >= 0 && !node; n--) node = findNodeAtLocation(where.tree, target.slice(0, n));
  const offset = node?.parent?.type === "property" ? node.parent.offset : (node?.offset ?? 0);
  const { line, column } = position(where.text, offset);
  return { file: where.file, line, column, path: showPath([...where.prefix, ...segments]), message };
}

/** The schema of a key (or, for undefined, of any key or element) under a node; undefined when it has none. */
export function childSchema(node: SchemaNode, key: string | undefined, root: SchemaNode = node): SchemaNode | undefined {
  const here = deref(node, root);
  if (here.items && (key === undefined || /^\d+$/.test(key))) return deref(here.items, root);
  if (key !== undefined && here.properties?.[key]) return deref(here.properties[key], root);
  if (typeof here.additionalProperties === "object") return deref(here.additionalProperties, root);
  return undefined;
}

/** Every key path the schema declares (maps as *): bulk.*.agent_step_up_over. */
export function schemaKeys(node: SchemaNode, root: SchemaNode = node, prefix = "", forRules = false): string[] {
  const here = deref(node, root);
  const out: string[] = [];
  for (const [key, child] of Object.entries(here.properties ?? {})) {
    if (forRules && deref(child, root)["x-read-by"] === "verdict") continue;
    const path = prefix ? `${prefix}.${key}` : key;
    out.push(path, ...schemaKeys(child, root, path, forRules));
  }
  if (typeof here.additionalProperties === "object") out.push(...schemaKeys(here.additionalProperties, root, prefix ? `${prefix}.*` : "*", forRules));
  return out;
}

export function describeKeys(node: SchemaNode): string {
  const keys = Object.keys(node.properties ?? {});
  return keys.length ? `it declares ${keys.join(", ")}` : "it declares no keys there";
}

/** Resolves a local $ref (#/definitions/x) against the root schema. */
export function deref(node: SchemaNode, root: SchemaNode): SchemaNode {
  let current = node;
  for (let hops = 0; current.$ref && hops < 16; hops++) {
    const match = /^#\/definitions\/(.+)$/.exec(current.$ref);
    const target = match ? root.definitions?.[match[1] as string] : undefined;
    if (!target) break;
    current = target;
  }
  return current;
}

/** Attach the root's definitions to each node handed out, so that refs below it resolve. */
export function withRoot(schema: SchemaNode): SchemaNode {
  const definitions = schema.definitions ?? {};
  const seen = new Map<SchemaNode, SchemaNode>();
  const attach = (node: SchemaNode): SchemaNode => {
    const cached = seen.get(node);
    if (cached) return cached;
    const copy: SchemaNode = { ...node, definitions };
    seen.set(node, copy);
    if (node.$ref) {
      const target = deref(node, schema);
      if (target !== node) return attach(target);
    }
    if (node.properties) copy.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, attach(v)]));
    if (typeof node.additionalProperties === "object") copy.additionalProperties = attach(node.additionalProperties);
    if (node.items) copy.items = attach(node.items);
    return copy;
  };
  return attach(schema);
}
