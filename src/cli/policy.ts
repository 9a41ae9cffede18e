// `verdict policy ...`: the author's tools. build and test wrap the pinned opa;
// eval runs one input through a bundle exactly as the server does (WASM, the
// evaluation bounds, the output contract); disagreements reads back what shadow
// evaluation recorded.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { isJsonObject } from "@verdict/sdk/wire";
import { loadConfigFile, type Environment } from "../config/index.js";
import { silentLogger } from "../observability/index.js";
import { defaultBundlePath, defaultPolicyDir, toolPath } from "../paths.js";
import { buildBundle, DEFAULT_BOUNDS, describeObligation, listDisagreements, loadBundle, PolicyEngine, PolicyError, type PolicyInput } from "../policy/index.js";
import { StateStore } from "../state/index.js";
import { parseOptions, required, UsageError } from "./args.js";

const subcommands = {
  build: `verdict policy build [--dir DIR] [--out FILE]

  compile a policy directory with the pinned opa into a WASM bundle whose revision
  is a hash of its sources

  --dir DIR        the policies (default: the shipped policies/)
  --out FILE       the bundle (default build/bundle.tar.gz)`,
  test: `verdict policy test [--dir DIR] [--threshold PCT] [--run REGEX] [--verbose]

  opa check --strict, opa fmt, opa test (and coverage) on a directory

  --dir DIR        the policies (default: the shipped policies/)
  --threshold PCT  also fail when opa test --coverage is under PCT percent
  --run REGEX      only the tests whose names match
  --verbose        list every test`,
  eval: `verdict policy eval --input FILE [--bundle B] [--timeout-ms N] [--memory-mb N]

  evaluate one input document with a bundle, as the server does, and print the
  decision, its reasons and the rules that fired (JSON); exits 1 when the policy
  fails (policy_error)

  --input FILE     the input document (docs/policies.md); "-" reads stdin
  --bundle B       a .tar.gz or a directory (default build/bundle.tar.gz)
  --timeout-ms N   evaluation time bound (default ${DEFAULT_BOUNDS.timeoutMs})
  --memory-mb N    evaluation memory bound (default ${DEFAULT_BOUNDS.memoryMb})`,
  disagreements: `verdict policy disagreements [--config FILE] [options]

  what shadow evaluation recorded, newest first, one JSON object per line

  --config FILE    Verdict's configuration (its database); else MONGODB_URI
  --database DB    the database (default: the configuration's, else verdict)
  --limit N        at most N records (default 50)
  --since TIME     only records at or after TIME (ISO 8601)
  --shadow-revision R   only records of this candidate revision`,
} as const;

export const usage = `verdict policy COMMAND [options]

${Object.values(subcommands)
  .map((text) => {
    const [synopsis = "", , ...rest] = text.split("\n");
    return [`  ${synopsis.replace(/^verdict policy /, "")}`, ...rest.map((line) => (line === "" ? "" : `  ${line}`))].join("\n");
  })
  .join("\n\n")}

verdict policy COMMAND --help shows one command's options.`;

/** The usage of the policy command argv names (its own, for a known subcommand). */
export function help(argv: string[]): string {
  const sub = argv[0];
  return sub !== undefined && Object.hasOwn(subcommands, sub) ? subcommands[sub as keyof typeof subcommands] : usage;
}

/** A policy command that ran and failed (a failing test, a policy error): exit 1. */
export class PolicyCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PolicyCommandError";
  }
}

export async function policy(argv: string[], env: Environment): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "build":
      return build(rest);
    case "test":
      return test(rest);
    case "eval":
      return evaluate(rest);
    case "disagreements":
      return disagreements(rest, env);
    default:
      throw new UsageError(sub ? `unknown policy command ${sub}` : "policy needs a command");
  }
}

async function build(argv: string[]): Promise<void> {
  const options = parseOptions(argv, { dir: { type: "string" }, out: { type: "string" } });
  const result = await buildBundle({
    policyDir: resolve(options.dir ?? defaultPolicyDir),
    outFile: resolve(options.out ?? defaultBundlePath),
  });
  process.stdout.write(`built ${result.outFile} (revision ${result.revision})\n`);
}

async function test(argv: string[]): Promise<void> {
  const options = parseOptions(argv, {
    dir: { type: "string" },
    threshold: { type: "string" },
    run: { type: "string" },
    verbose: { type: "boolean", default: false },
  });
  const dir = resolve(options.dir ?? defaultPolicyDir);
  if (!existsSync(dir)) throw new UsageError(`--dir ${dir} does not exist`);
  const threshold = options.threshold === undefined ? undefined : Number(options.threshold);
  if (threshold !== undefined && !(threshold >= 0 && threshold <= 100)) throw new UsageError("--threshold must be a percentage from 0 to 100");
  const opa = toolPath("opa");
  if (!existsSync(opa)) throw new PolicyCommandError(`${opa} is missing: run npm run tools first`);

  const failed: string[] = [];
  const step = async (name: string, args: string[]) => {
    process.stdout.write(`== ${name}\n`);
    if ((await runInherited(opa, args)) !== 0) failed.push(name);
  };
  await step("opa check --strict", ["check", "--strict", dir]);
  await step("opa fmt (files listed need opa fmt -w)", ["fmt", "--list", "--fail", dir]);
  const runArgs = options.run ? ["--run", options.run] : [];
  await step("opa test", ["test", ...(options.verbose ? ["-v"] : []), ...runArgs, dir]);
  if (threshold !== undefined) {
    process.stdout.write(`== opa test --coverage (at least ${threshold}%)\n`);
    // opa prints no report when its own --threshold fails: read the report and compare here
    const { stdout } = await runCaptured(opa, ["test", "--coverage", ...runArgs, dir]);
    const report = coverageReport(stdout);
    if (!report) {
      process.stdout.write(stdout);
      failed.push("coverage (no report)");
    } else {
      process.stdout.write(report.summary + "\n");
      if (report.coverage < threshold) failed.push(`coverage under ${threshold}%`);
    }
  }
  if (failed.length > 0) throw new PolicyCommandError(`failed: ${failed.join("; ")}`);
}

/** opa's coverage report (JSON): the total, and a line per file with lines not covered. */
function coverageReport(report: string): { coverage: number; summary: string } | undefined {
  let parsed: { coverage?: number; files?: Record<string, { coverage?: number; not_covered?: { start: { row: number }; end: { row: number } }[] }> };
  try {
    parsed = JSON.parse(report) as typeof parsed;
  } catch {
    return undefined;
  }
  if (typeof parsed.coverage !== "number") return undefined;
  const coverage = parsed.coverage;
  const lines = [`coverage ${coverage.toFixed(1)}%`];
  for (const [file, info] of Object.entries(parsed.files ?? {})) {
    if (!info.not_covered?.length) continue;
    const rows = info.not_covered.map((r) => (r.start.row === r.end.row ? `${r.start.row}` : `${r.start.row}-${r.end.row}`));
    lines.push(`  ${file}: ${(info.coverage ?? 0).toFixed(1)}%, not covered: lines ${rows.join(", ")}`);
  }
  return { coverage, summary: lines.join("\n") };
}

function runCaptured(command: string, args: string[]): Promise<{ stdout: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.on("error", () => resolvePromise({ stdout }));
    child.on("close", () => resolvePromise({ stdout }));
  });
}

/** Runs a command with this process's stdout and stderr; resolves with its exit code. */
function runInherited(command: string, args: string[]): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", () => resolvePromise(1));
    child.on("close", (code) => resolvePromise(code ?? 1));
  });
}

async function evaluate(argv: string[]): Promise<void> {
  const options = parseOptions(argv, {
    bundle: { type: "string" },
    input: { type: "string" },
    "timeout-ms": { type: "string" },
    "memory-mb": { type: "string" },
  });
  const inputPath = required(options.input, "--input");
  const timeoutMs = positiveInteger(options["timeout-ms"], "--timeout-ms", DEFAULT_BOUNDS.timeoutMs);
  const memoryMb = positiveInteger(options["memory-mb"], "--memory-mb", DEFAULT_BOUNDS.memoryMb);
  let text: string;
  try {
    text = inputPath === "-" ? readFileSync(0, "utf8") : readFileSync(inputPath, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read --input ${inputPath}: ${(error as Error).message}`);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--input is not JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(input)) throw new UsageError("--input must hold a JSON object (the policy input document)");

  const bundle = await loadBundle(resolve(options.bundle ?? defaultBundlePath));
  const engine = await PolicyEngine.load(bundle, { bounds: { timeoutMs, memoryMb, workers: 1 } });
  try {
    // The input goes to the policy exactly as given: what is evaluated is what the author wrote.
    const decision = await engine.decide(input as unknown as PolicyInput);
    const out = {
      revision: engine.revision,
      effect: decision.effect,
      reasons: decision.reasons,
      required_scopes: decision.requiredScopes,
      step_up: decision.stepUp ? { acr_values: decision.stepUp.acrValues, ...(decision.stepUp.maxAge !== undefined ? { max_age: decision.stepUp.maxAge } : {}) } : null,
      obligations: decision.obligations.map((o) => ({ ...describeObligation(o), reason: o.reason })),
      rules: decision.explain,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    const out = { revision: engine.revision, effect: "deny", reasons: [{ code: "policy_error", message: error.message }], rules: [] };
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
    throw new PolicyCommandError(`the policy failed: ${error.message}`);
  } finally {
    await engine.close();
  }
}

async function disagreements(argv: string[], env: Environment): Promise<void> {
  const options = parseOptions(argv, {
    config: { type: "string" },
    database: { type: "string" },
    limit: { type: "string", default: "50" },
    since: { type: "string" },
    "shadow-revision": { type: "string" },
  });
  const limit = positiveInteger(options.limit, "--limit", 50);
  const since = options.since !== undefined ? new Date(options.since) : undefined;
  if (since && Number.isNaN(since.getTime())) throw new UsageError("--since must be a time, e.g. 2025-01-31T12:00:00Z");
  const config = options.config !== undefined ? loadConfigFile(options.config, env) : undefined;
  const uri = config?.mongo.uri ?? env.MONGODB_URI;
  if (!uri) throw new UsageError("no database: give --config FILE (with mongodb_uri) or set MONGODB_URI");
  const database = options.database ?? config?.mongo.database ?? "verdict";

  // A command, not a request path: a patient deadline.
  const store = StateStore.open({ uri, database, timeoutMs: 10_000, log: silentLogger() });
  try {
    const records = await listDisagreements(store, {
      limit,
      ...(since ? { since } : {}),
      ...(options["shadow-revision"] !== undefined ? { shadowRevision: options["shadow-revision"] } : {}),
    });
    for (const record of records) process.stdout.write(JSON.stringify(record) + "\n");
  } finally {
    await store.close();
  }
}

function positiveInteger(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number`);
  return n;
}
