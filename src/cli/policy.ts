// `verdict policy ...`: the author's tools. build and test wrap the pinned opa;
// eval runs one input through a bundle exactly as the server does (policy-eval.ts);
// replay re-evaluates recorded decisions with a candidate (policy-replay.ts);
// disagreements reads back what shadow evaluation recorded.
import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Environment } from "../config/index.js";
import { createMetrics, silentLogger } from "../observability/index.js";
import { defaultBundlePath, defaultPolicyDir, toolPath } from "../paths.js";
import { buildTested, PolicyTestFailed, testPolicy, verdictChanges, type PolicyTestResult } from "../policy/index.js";
import { openDisagreements } from "../state/index.js";
import { parseOptions, UsageError } from "./args.js";
import { openCommandDatabase } from "./local-database.js";
import { PolicyCommandError, positiveInteger } from "./policy-command.js";
import { evaluate, evalUsage } from "./policy-eval.js";
import { replay, replayUsage } from "./policy-replay.js";

const subcommands = {
  build: `verdict policy build [--dir DIR] [--out FILE] [--threshold PCT]

  compile a policy directory with the pinned opa into a WASM bundle whose revision
  is a hash of its sources, built to a temporary file, tested as verdict policy
  test does, and only then renamed over FILE: a failing build never replaces the
  bundle a running Verdict serves

  --dir DIR        the policies (default: the shipped policies/)
  --out FILE       the bundle (default build/bundle.tar.gz)
  --threshold PCT  also fail when opa test --coverage is under PCT percent
  --summary-json FILE  write the steps and test counts as JSON`,
  test: `verdict policy test [--dir DIR] [--threshold PCT] [--run REGEX] [--verbose]

  everything a policy change can break: opa fmt; opa check --strict with the
  contract's schemas (DIR/schemas/input.json, settings.json); the data files
  against the settings schema; settings keys read but not declared, or declared
  but not read; regal lint with Verdict's contract rules; opa test (failures shown
  again with --var-values); coverage; the case table (DIR/testdata/
  decisions_test.json) through the compiled WASM bundle and Verdict's own output
  validation; every reason code in its reference (docs/reasons.md)

  --dir DIR        the policies (default: the shipped policies/)
  --threshold PCT  also fail when opa test --coverage is under PCT percent
  --run REGEX      only the tests and cases whose names match
  --verbose        list every opa test
  --reasons-doc FILE   the reason-code reference (default DIR/reasons.md; for
                   the shipped policies docs/reasons.md)
  --summary-json FILE  write the steps and test counts as JSON`,
  eval: evalUsage,
  replay: replayUsage,
  disagreements: `verdict policy disagreements [--config FILE] [options]

  what shadow evaluation recorded, newest first, one JSON object per line:
  "differs" names the parts that differ (effect, reasons, obligations) and
  "changes" each field, active to shadow: {"field": "effect", "from": "allow",
  "to": "deny"}, a reason code added ("to") or removed ("from"), an obligation
  added, removed, or one of its fields changed
  ("obligations[reserve KEY].limit")

  --config FILE    Verdict's configuration (its database); else MONGODB_URI,
                   else the development database (verdict serve --profile dev)
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

export async function policy(argv: string[], env: Environment): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "build":
      return build(rest);
    case "test":
      return test(rest);
    case "eval":
      return evaluate(rest, env);
    case "replay":
      return replay(rest, env);
    case "disagreements":
      return disagreements(rest, env);
    default:
      throw new UsageError(sub ? `unknown policy command ${sub}` : "policy needs a command");
  }
}

async function build(argv: string[]): Promise<void> {
  const options = parseOptions(argv, { dir: { type: "string" }, out: { type: "string" }, threshold: { type: "string" }, "summary-json": { type: "string" } });
  const dir = policyDir(options.dir);
  const threshold = percentage(options.threshold);
  const write = (text: string) => void process.stdout.write(text);
  try {
    const built = await buildTested({
      policyDir: dir,
      outFile: resolve(options.out ?? defaultBundlePath),
      ...(threshold !== undefined ? { threshold } : {}),
      write,
    });
    writeSummary(options["summary-json"], built.result);
    process.stdout.write(`built ${built.outFile} (revision ${built.revision})\n`);
  } catch (error) {
    if (error instanceof PolicyTestFailed) writeSummary(options["summary-json"], error.result);
    throw error;
  }
}

async function test(argv: string[]): Promise<void> {
  const options = parseOptions(argv, {
    dir: { type: "string" },
    threshold: { type: "string" },
    run: { type: "string" },
    verbose: { type: "boolean", default: false },
    "reasons-doc": { type: "string" },
    "summary-json": { type: "string" },
  });
  const dir = policyDir(options.dir);
  const threshold = percentage(options.threshold);
  const result = await testPolicy({
    policyDir: dir,
    ...(threshold !== undefined ? { threshold } : {}),
    ...(options.run !== undefined ? { run: options.run } : {}),
    ...(options["reasons-doc"] !== undefined ? { reasonsDoc: resolve(options["reasons-doc"]) } : {}),
    verbose: options.verbose,
    write: (text) => void process.stdout.write(text),
  });
  writeSummary(options["summary-json"], result);
  const failed = result.steps.filter((s) => !s.ok).map((s) => s.name);
  if (failed.length > 0) throw new PolicyCommandError(`failed: ${failed.join("; ")}`);
}

function policyDir(option: string | undefined): string {
  const dir = resolve(option ?? defaultPolicyDir);
  if (!existsSync(dir)) throw new UsageError(`--dir ${dir} does not exist`);
  const opa = toolPath("opa");
  if (!existsSync(opa)) throw new PolicyCommandError(`${opa} is missing: run npm run tools first`);
  return dir;
}

function percentage(option: string | undefined): number | undefined {
  const threshold = option === undefined ? undefined : Number(option);
  if (threshold !== undefined && !(threshold >= 0 && threshold <= 100)) throw new UsageError("--threshold must be a percentage from 0 to 100");
  return threshold;
}

/** For npm test: each opa test rule and each case counts on its own; each other step is one. */
function writeSummary(file: string | undefined, result: PolicyTestResult): void {
  if (file !== undefined) writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
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
  // the configuration's database, else MONGODB_URI, else the development database (a running
  // `verdict serve --profile dev`, or its local-mongo data directory): where shadow records went
  const database = await openCommandDatabase(options.config, env, options.database);
  try {
    const log = silentLogger();
    // A command, not a request path: a patient deadline.
    const store = openDisagreements(database.db, { timeoutMs: 10_000, retentionDays: 1, log, metrics: createMetrics() });
    const records = await store.list({
      limit,
      ...(since ? { since } : {}),
      ...(options["shadow-revision"] !== undefined ? { shadowRevision: options["shadow-revision"] } : {}),
    });
    for (const record of records) {
      // Field by field; records kept before the changes were recorded get them worked out from both answers.
      const { active, shadow, differs, changes, ...rest } = record;
      process.stdout.write(JSON.stringify({ ...rest, differs, changes: changes ?? verdictChanges(active, shadow), active, shadow }) + "\n");
    }
  } finally {
    await database.close();
  }
}
