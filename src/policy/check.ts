// `verdict policy test`: everything a policy change can break, in one run.
//   opa fmt, opa check --strict (with the contract's schemas), the data files
//   against schemas/settings.json, settings keys read and declared, Regal with
//   Verdict's contract rules, opa test (failures again with --var-values), the
//   coverage floor, then the bundle built to a temporary file and the case table
//   run through it as the server runs it (opa-wasm, the output validation with
//   the obligation registry), and the reason codes against their reference.
// The gated build (build.ts) runs the same before it replaces a served bundle.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parse as parseYaml } from "yaml";
import type { ObligationRegistry } from "../obligations/index.js";
import { packageRoot, toolPath } from "../paths.js";
import { buildBundle, bundleSources } from "./build.js";
import { loadBundle } from "./bundle.js";
import { formatFailure, loadCaseTable, runCases } from "./cases.js";
import { checkDataKeys, parseModules } from "./data-keys.js";
import { PolicyEngine } from "./engine.js";
import { PolicyError } from "./output.js";
import { documentedCodes, policyReasonCodes } from "./reasons-doc.js";
import { jsonTree, loadSchemas, parseJsonFile, SCHEMA_DIR, SchemaFileError, validateAgainst, withRoot, type JsonProblem } from "./schema.js";

/** How long one Rego test may run (opa test --timeout). */
const OPA_TEST_TIMEOUT = "60s";

export interface PolicyTestOptions {
  policyDir: string;
  /** Fail when opa test --coverage is under this percentage. */
  threshold?: number;
  /** Only opa tests and cases whose names match. */
  run?: string;
  verbose?: boolean;
  /** The reason-code reference (default: DIR/reasons.md, else Verdict's docs/reasons.md for the shipped policies). */
  reasonsDoc?: string;
  /** Where the output goes (a line at a time). */
  write: (text: string) => void;
  /** A bundle already built from the directory (the gated build's temporary file); else one is built to a scratch file. */
  bundleFile?: string;
  /** Obligation types the server registers beyond the defaults (a fixture type in tests). */
  obligations?: ObligationRegistry;
}

export interface StepResult {
  name: string;
  ok: boolean;
  /** Skipped because the directory does not have what the step checks (no schemas, no case table). */
  skipped?: string;
}

export interface PolicyTestResult {
  ok: boolean;
  steps: StepResult[];
  /** opa test rules: each counts on its own. */
  opaTests: { passed: number; failed: string[] };
  /** Cases of the decision table through the compiled bundle. */
  cases: { passed: number; failed: string[] };
}

/** The files Regal and its Verdict rules are configured by. */
export const REGAL_CONFIG = join(packageRoot, "tools", "regal", "config.yaml");
export const REGAL_RULES = join(packageRoot, "tools", "regal", "rules");

export async function testPolicy(options: PolicyTestOptions): Promise<PolicyTestResult> {
  const { policyDir: dir, write } = options;
  const opa = toolPath("opa");
  const steps: StepResult[] = [];
  const result: PolicyTestResult = { ok: true, steps, opaTests: { passed: 0, failed: [] }, cases: { passed: 0, failed: [] } };
  const step = (name: string, ok: boolean, skipped?: string) => {
    steps.push({ name, ok, ...(skipped ? { skipped } : {}) });
    if (!ok) result.ok = false;
    write(skipped ? `-- ${name}: skipped (${skipped})\n` : `${ok ? "ok  " : "FAIL"} ${name}\n`);
  };
  const header = (name: string) => write(`== ${name}\n`);
  const problems = (list: { file: string; line: number; column?: number; path: string; message: string }[]) => {
    for (const p of list) write(`  ${p.file}:${p.line}${p.column ? `:${p.column}` : ""}: ${p.path ? `${p.path}: ` : ""}${p.message}\n`);
  };

  let schemas;
  try {
    schemas = loadSchemas(dir);
  } catch (error) {
    if (!(error instanceof SchemaFileError)) throw error;
    write(`  ${error.message}\n`);
    step("schemas", false);
    return result;
  }
  const hasSchemas = schemas.input !== undefined || schemas.settings !== undefined;
  const ignore = ["--ignore", SCHEMA_DIR];
  // opa's own bound is 5 s per test; the case table is ONE test over every case, and
  // on a busy machine (CI, a build beside a running Verdict) it takes longer than that.
  const testArgs = [...ignore, "--timeout", OPA_TEST_TIMEOUT];

  header("opa fmt (files listed need opa fmt -w)");
  step("opa fmt", (await runTool(opa, ["fmt", "--list", "--fail", dir], write)).code === 0);

  header(`opa check --strict${hasSchemas ? ` --schema ${relative(process.cwd(), schemas.dir) || schemas.dir}` : ""}`);
  step("opa check", (await runTool(opa, ["check", "--strict", ...(hasSchemas ? ["--schema", schemas.dir] : []), ...ignore, dir], write)).code === 0);

  header("data files against schemas/settings.json");
  if (schemas.settings) {
    const found = validateDataFiles(dir, withRoot(schemas.settings.schema));
    problems(found);
    step("settings schema", found.length === 0);
  } else step("settings schema", true, `no ${SCHEMA_DIR}/settings.json`);

  header("settings keys: read by a rule, declared by the schema");
  if (schemas.settings) {
    const rego = bundleSources(dir).filter((f) => f.endsWith(".rego"));
    const found = dedupe(checkDataKeys(await parseModules(opa, rego), withRoot(schemas.settings.schema))).map((p) => ({
      ...p,
      file: p.file.startsWith("/") ? relative(dir, p.file) : p.file,
    }));
    problems(found);
    step("settings keys", found.length === 0);
  } else step("settings keys", true, `no ${SCHEMA_DIR}/settings.json`);

  header("regal lint (Verdict's contract rules)");
  const regal = toolPath("regal");
  if (existsSync(regal)) {
    const args = ["lint", "--format", "json", "--config-file", REGAL_CONFIG, "--rules", REGAL_RULES, "--ignore-files", `${SCHEMA_DIR}/**`, dir];
    const lint = await runTool(regal, args, undefined);
    const violations = regalViolations(lint.stdout);
    if (violations === undefined) write(lint.stdout + lint.stderr);
    for (const v of violations ?? [])
      write(`  ${relative(dir, v.location.file) || v.location.file}:${v.location.row}:${v.location.col}: ${v.category}/${v.title}: ${v.description}\n`);
    step("regal lint", lint.code === 0 && violations !== undefined);
  } else step("regal lint", false, `${regal} is missing: run npm run tools`);

  header("opa test");
  const runArgs = options.run ? ["--run", options.run] : [];
  const tests = await runTool(opa, ["test", "--format", "json", ...testArgs, ...runArgs, dir], undefined);
  let cases: { name: string; package: string; fail?: boolean; error?: { message?: string }; skip?: boolean }[] = [];
  try {
    cases = JSON.parse(tests.stdout || "[]") as typeof cases;
  } catch {
    write(tests.stdout + tests.stderr);
  }
  const failing = cases.filter((c) => c.fail || c.error);
  result.opaTests.passed = cases.filter((c) => !c.fail && !c.error && !c.skip).length;
  result.opaTests.failed = failing.map((c) => `${c.package}.${c.name}${c.error?.message ? `: ${c.error.message}` : ""}`);
  if (options.verbose) for (const c of cases) write(`  ${c.fail || c.error ? "FAIL" : "PASS"} ${c.package}.${c.name}\n`);
  write(`  ${result.opaTests.passed} passed, ${failing.length} failed of ${cases.length}\n`);
  if (failing.length > 0) {
    // again, only the failures, with the value of every variable in the failing expression
    const names = [...new Set(failing.map((c) => c.name))].join("|");
    write(`  the failing tests, with --var-values:\n`);
    // indented whole, once opa is done: it writes byte by byte, so its output comes in pieces that start mid-line
    const again = await runTool(opa, ["test", "--var-values", ...testArgs, "--run", names, dir], undefined);
    write(indent(again.stdout + again.stderr));
  }
  step("opa test", cases.length > 0 ? failing.length === 0 : tests.code === 0);

  if (options.threshold !== undefined) {
    header(`opa test --coverage (at least ${options.threshold}%)`);
    // opa prints no report when its own --threshold fails: read the report and compare here
    const { stdout } = await runTool(opa, ["test", "--coverage", ...testArgs, ...runArgs, dir], undefined);
    const report = coverageReport(stdout);
    if (!report) write(stdout);
    else write(report.summary + "\n");
    step("coverage", report !== undefined && report.coverage >= options.threshold);
  }

  header("the case table through the compiled bundle (opa-wasm, Verdict's output validation)");
  const table = loadCaseTable(dir, schemas.input ? withRoot(schemas.input.schema) : undefined);
  problems(table.problems);
  if (table.problems.length > 0) step("case table", false);
  else if (!table.loaded) step("case table", true, "no testdata/decisions_test.json");
  else {
    const scratch = mkdtempSync(join(tmpdir(), "verdict-policy-test-"));
    try {
      const bundleFile = options.bundleFile ?? (await buildBundle({ policyDir: dir, outFile: join(scratch, "bundle.tar.gz") })).outFile;
      const engine = await PolicyEngine.load(await loadBundle(bundleFile), {
        bounds: { workers: 1 },
        ...(options.obligations ? { obligations: options.obligations } : {}),
      });
      try {
        const run = await runCases(engine, table.loaded, options.run ? new RegExp(options.run) : undefined);
        for (const failure of run.failures) write(formatFailure(failure, run.file) + "\n");
        result.cases = { passed: run.passed, failed: run.failures.map((f) => f.name) };
        write(`  ${run.passed} passed, ${run.failures.length} failed\n`);
        step("case table", run.failures.length === 0);
      } finally {
        await engine.close();
      }
    } catch (error) {
      if (!(error instanceof PolicyError) && !(error instanceof Error && error.name === "BundleError")) throw error;
      write(`  ${error.message}\n`);
      step("case table", false);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  header("reason codes in their reference");
  const doc =
    options.reasonsDoc ??
    (existsSync(join(dir, "reasons.md")) ? join(dir, "reasons.md") : isShipped(dir) ? join(packageRoot, "docs", "reasons.md") : undefined);
  if (!doc) step("reason codes documented", true, "no reasons.md in the directory (--reasons-doc FILE names one)");
  else {
    const codes = policyReasonCodes(
      bundleSources(dir)
        .filter((f) => f.endsWith(".rego"))
        .map((f) => readFileSync(f, "utf8")),
    );
    const documented = documentedCodes(doc).all;
    const missing = [...codes].filter((c) => !documented.has(c)).sort();
    for (const code of missing) write(`  ${code} is given by a rule but not listed in ${relative(process.cwd(), doc) || doc}\n`);
    step("reason codes documented", missing.length === 0);
  }
  return result;
}

function isShipped(dir: string): boolean {
  return relative(join(packageRoot, "policies"), dir) === "";
}

/** Data files at the root of the directory (data.settings lives there), validated with file, line and path. */
function validateDataFiles(dir: string, settings: Parameters<typeof validateAgainst>[0]): JsonProblem[] {
  const out: JsonProblem[] = [];
  let seen = false;
  for (const file of bundleSources(dir)) {
    if (relative(dir, file).includes("/") && !relative(dir, file).startsWith("settings/")) continue;
    if (file.endsWith(".json")) {
      const parsed = parseJsonFile(file, dir);
      if ("problem" in parsed) {
        out.push(parsed.problem);
        continue;
      }
      const value = parsed.value as Record<string, unknown>;
      if (typeof value !== "object" || value === null || !("settings" in value)) continue;
      seen = true;
      out.push(...validateAgainst(settings, value["settings"], { file: relative(dir, file), text: parsed.text, tree: parsed.tree, prefix: ["settings"] }));
    } else if (/\.ya?ml$/.test(file)) {
      let value: unknown;
      try {
        value = parseYaml(readFileSync(file, "utf8"));
      } catch (error) {
        out.push({
          file: relative(dir, file),
          line: (error as { linePos?: { line: number }[] }).linePos?.[0]?.line ?? 0,
          column: 0,
          path: "",
          message: (error as Error).message,
        });
        continue;
      }
      if (typeof value !== "object" || value === null || !("settings" in value)) continue;
      seen = true;
      // YAML has no JSON tree to locate errors in: the path says where
      const text = JSON.stringify(value);
      const tree = jsonTree(text);
      if (tree) {
        const found = validateAgainst(settings, (value as Record<string, unknown>)["settings"], {
          file: relative(dir, file),
          text,
          tree,
          prefix: ["settings"],
        });
        out.push(...found.map((p) => ({ ...p, line: 0, column: 0 })));
      }
    }
  }
  if (!seen)
    out.push({ file: "data.json", line: 0, column: 0, path: "settings", message: "no data file of the directory holds settings, which the schema describes" });
  return out;
}

function dedupe<T extends { file: string; line: number; path: string }>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((p) => {
    const key = `${p.file}:${p.line}:${p.path}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

interface RegalViolation {
  title: string;
  description: string;
  category: string;
  location: { file: string; row: number; col: number };
}

function regalViolations(report: string): RegalViolation[] | undefined {
  try {
    return (JSON.parse(report) as { violations?: RegalViolation[] }).violations ?? [];
  } catch {
    return undefined;
  }
}

const indent = (text: string) => text.replace(/^(?=.)/gm, "    ");

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
  const lines = [`  coverage ${coverage.toFixed(1)}%`];
  for (const [file, info] of Object.entries(parsed.files ?? {})) {
    if (!info.not_covered?.length) continue;
    const rows = info.not_covered.map((r) => (r.start.row === r.end.row ? `${r.start.row}` : `${r.start.row}-${r.end.row}`));
    lines.push(`  ${file}: ${(info.coverage ?? 0).toFixed(1)}%, not covered: lines ${rows.join(", ")}`);
  }
  return { coverage, summary: lines.join("\n") };
}

/** Runs a tool; its output goes to `write` as it comes (or is only collected when write is undefined). */
function runTool(command: string, args: string[], write: ((text: string) => void) | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    // decoded as streams, so that a character split between two pieces stays whole
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
      write?.(text);
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
      write?.(text);
    });
    child.on("error", (error) => resolvePromise({ code: 1, stdout, stderr: stderr + error.message }));
    child.on("close", (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
  });
}
