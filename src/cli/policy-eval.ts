// `verdict policy eval`: one input document through a bundle as the server runs
// it (opa-wasm under the evaluation bounds, the output contract): the state
// queries first, answered from the database (--read-state, read only), from
// --state, or from the input's own `state`; then the decision. It says when the
// input lacks what the policy reads: a field the contract's input schema
// requires or types otherwise, or a state value the policy asked for.
import { existsSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { isJsonObject, reason, type JsonObject } from "@verdict/sdk/wire";
import { loadConfigFile, type Environment } from "../config/index.js";
import { windowLabel, type StateQuery } from "../contract/index.js";
import { silentLogger } from "../observability/index.js";
import { defaultBundlePath, defaultPolicyDir } from "../paths.js";
import {
  decideAsServer,
  DEFAULT_BOUNDS,
  jsonTree,
  loadBundle,
  parseJsonFile,
  SCHEMA_DIR,
  PolicyEngine,
  PolicyError,
  unanswered,
  validateAgainst,
  type PolicyInput,
  type SchemaNode,
  type StateAnswerer,
} from "../policy/index.js";
import { openState } from "../state/index.js";
import { parseOptions, required, UsageError } from "./args.js";
import { jsonObjectArgument, readJsonArgument } from "./json-args.js";
import { openCommandDatabase, type CommandDatabase } from "./local-database.js";
import { PolicyCommandError, positiveInteger } from "./policy-command.js";

export const evalUsage = `verdict policy eval --input FILE [--bundle B] [--state JSON | --read-state] [options]

  evaluate one input document with a bundle, as the server does: the state
  queries (verdict/state_queries) first, then the decision; print the decision,
  its reasons, the rules that fired and the state it saw (JSON). Warns (stderr,
  and "warnings") when the input lacks what the policy reads: a field the
  contract's input schema requires, or a state value a query asks for. Exits 1
  when the policy fails (policy_error)

  --input FILE     the input document (docs/policies.md); "-" reads stdin
  --bundle B       a .tar.gz or a directory (default: the configuration's
                   bundle with --config, else build/bundle.tar.gz)
  --state JSON     the answers to the state queries, by name, e.g.
                   '{"spent_today": 800}' (instead of the input's "state")
  --read-state     answer the state queries from the database, read only, as
                   the server would at the input's "now": the configuration's
                   (--config FILE), else MONGODB_URI, else the development
                   database (a running verdict serve --profile dev)
  --config FILE    Verdict's configuration: its database (implies --read-state)
                   and its bundle
  --database DB    the database (default: the configuration's, else verdict)
  --input-schema FILE  the contract's input schema the input is checked
                   against (default: the shipped policies/schemas/input.json)
  --timeout-ms N   evaluation time bound (default ${DEFAULT_BOUNDS.timeoutMs})
  --memory-mb N    evaluation memory bound (default ${DEFAULT_BOUNDS.memoryMb})`;

export async function evaluate(argv: string[], env: Environment): Promise<void> {
  const options = parseOptions(argv, {
    bundle: { type: "string" },
    input: { type: "string" },
    state: { type: "string" },
    "read-state": { type: "boolean", default: false },
    config: { type: "string" },
    database: { type: "string" },
    "input-schema": { type: "string" },
    "timeout-ms": { type: "string" },
    "memory-mb": { type: "string" },
  });
  const inputPath = required(options.input, "--input");
  const timeoutMs = positiveInteger(options["timeout-ms"], "--timeout-ms", DEFAULT_BOUNDS.timeoutMs);
  const memoryMb = positiveInteger(options["memory-mb"], "--memory-mb", DEFAULT_BOUNDS.memoryMb);
  const readState = options["read-state"] === true || options.config !== undefined;
  if (readState && options.state !== undefined) throw new UsageError("--state gives the state by hand; --read-state (or --config) reads it: not both");
  const given = options.state !== undefined ? jsonObjectArgument(options.state, "--state", '{"spent_today": 800}') : undefined;
  const { text, input } = readInput(inputPath);
  const bundlePath = options.bundle ?? (options.config !== undefined ? loadConfigFile(options.config, env).bundle : defaultBundlePath);

  const bundle = await loadBundle(resolve(bundlePath));
  const engine = await PolicyEngine.load(bundle, { bounds: { timeoutMs, memoryMb, workers: 1 } });
  let database: CommandDatabase | undefined;
  try {
    const nowMs = typeof input["now"] === "number" ? input["now"] * 1000 : Date.now();
    let source: string;
    let answer: StateAnswerer;
    if (readState) {
      database = await openCommandDatabase(options.config, env, options.database);
      // A command, not a request path: a patient deadline. Counters are only read (find), never written.
      const { counters } = openState(database.db, { timeoutMs: 10_000, log: silentLogger() });
      source = `the database (${database.source}, ${database.db.name}), read at ${new Date(nowMs).toISOString()}`;
      answer = async (queries) => (await counters.read([queries], nowMs))[0] ?? {};
    } else if (given) {
      source = "--state";
      answer = () => Promise.resolve(given);
    } else {
      source = 'the input\'s "state"';
      const own = input["state"];
      answer = () => Promise.resolve(isJsonObject(own) ? own : {});
    }

    const warnings = schemaWarnings(input, text, inputPath, options["input-schema"]);
    const policyInput = input as unknown as PolicyInput;
    try {
      const { decision, queries, state } = await decideAsServer(engine, policyInput, answer);
      // what was offered by hand (--state, or the input's own), undefined when the database answered
      const offered = readState ? undefined : (given ?? (isJsonObject(input["state"]) ? input["state"] : {}));
      warnings.push(...stateWarnings(queries, state, offered));
      const out = {
        revision: engine.revision,
        effect: decision.effect,
        reasons: decision.reasons,
        required_scopes: decision.requiredScopes,
        step_up: decision.stepUp
          ? { acr_values: decision.stepUp.acrValues, ...(decision.stepUp.maxAge !== undefined ? { max_age: decision.stepUp.maxAge } : {}) }
          : null,
        obligations: decision.obligations.map((o) => ({ ...engine.obligations.summary(o), reason: o.reason })),
        rules: decision.explain,
        state: { source, queries: queries.map(showQuery), values: state },
        warnings,
      };
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
      process.stdout.write(JSON.stringify(out, null, 2) + "\n");
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
      const out = { revision: engine.revision, effect: "deny", reasons: [reason("policy_error", error.message)], rules: [], warnings };
      process.stdout.write(JSON.stringify(out, null, 2) + "\n");
      throw new PolicyCommandError(`the policy failed: ${error.message}`);
    }
  } finally {
    await engine.close();
    await database?.close();
  }
}

/** The input document, and its text for the lines of what does not fit the schema. */
function readInput(path: string): { text: string; input: JsonObject } {
  const { value, text } = readJsonArgument(path, "--input");
  if (!isJsonObject(value)) throw new UsageError("--input must hold a JSON object (the policy input document)");
  return { text, input: value };
}

/**
 * The input against the contract's input schema, each problem with its line in
 * the input file: a field the server always sets and the input lacks
 * (principal.scopes, now), one typed otherwise, or a key the contract does not
 * have (principal.clienttype). The state is not checked here: what the policy
 * asks of it is (stateWarnings).
 */
function schemaWarnings(input: JsonObject, text: string, path: string, schemaOption: string | undefined): string[] {
  const schemaFile = resolve(schemaOption ?? join(defaultPolicyDir, SCHEMA_DIR, "input.json"));
  if (!existsSync(schemaFile)) {
    if (schemaOption !== undefined) throw new UsageError(`--input-schema ${schemaOption} does not exist`);
    return [];
  }
  const parsed = parseJsonFile(schemaFile, process.cwd());
  if ("problem" in parsed) throw new UsageError(`--input-schema ${parsed.problem.file}:${parsed.problem.line}: ${parsed.problem.message}`);
  const tree = jsonTree(text);
  if (!tree) return [];
  const checked = "state" in input ? input : { ...input, state: {} };
  const file = path === "-" ? "<stdin>" : path;
  const shown = relative(process.cwd(), schemaFile) || schemaFile;
  return validateAgainst(parsed.value as SchemaNode, checked, { file, text, tree, prefix: [] }).map(
    (p) => `${p.file}:${p.line}: input${p.path ? "." + p.path : ""} ${p.message} (the contract's input, ${shown})`,
  );
}

/**
 * State given by hand (`offered`: --state or the input's own): a value a query
 * asks for that it lacks, and one it gives that no query asks for.
 */
function stateWarnings(queries: StateQuery[], state: JsonObject, offered: JsonObject | undefined): string[] {
  if (!offered) return [];
  const warnings = unanswered(queries, state).map(
    (q) =>
      `the policy reads state "${q.name}" (${q.type} ${q.key.join("/")} per ${windowLabel(q.window)}) that the input does not give: the decision saw it undefined, where the server reads it (0 for a counter never used); give it with --state '{"${q.name}": N}' or read it with --read-state`,
  );
  for (const name of Object.keys(offered)) {
    if (!queries.some((q) => q.name === name)) {
      warnings.push(
        `state "${name}" is given, but verdict/state_queries does not ask for it for this input: the server would not set it, and the decision did not see it`,
      );
    }
  }
  return warnings;
}

function showQuery(q: StateQuery): { name: string; type: string; key: string[]; window: string } {
  return { name: q.name, type: q.type, key: q.key, window: windowLabel(q.window) };
}
