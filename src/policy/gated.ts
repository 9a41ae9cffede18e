// `verdict policy build`: a bundle is built to a temporary file beside the served
// one, tested (everything `verdict policy test` runs, the case table through that
// very file), and only then renamed over the served path; rename within one
// directory is atomic, so a watching Verdict sees the old bundle or the tested new
// one, never a half-written or untested one. A failing build leaves it untouched.
import { randomBytes } from "node:crypto";
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { VerdictError } from "../errors/index.js";
import { buildBundle } from "./build.js";
import { testPolicy, type PolicyTestOptions, type PolicyTestResult } from "./check.js";

export class PolicyTestFailed extends VerdictError {
  constructor(
    message: string,
    readonly result: PolicyTestResult,
  ) {
    super("policy_command_failed", message);
  }
}

export interface GatedBuildOptions extends Omit<PolicyTestOptions, "bundleFile"> {
  outFile: string;
}

export async function buildTested(options: GatedBuildOptions): Promise<{ revision: string; outFile: string; result: PolicyTestResult }> {
  const { outFile } = options;
  mkdirSync(dirname(outFile), { recursive: true });
  const temporary = join(dirname(outFile), `.${basename(outFile)}.${randomBytes(6).toString("hex")}.building`);
  try {
    const built = await buildBundle({ policyDir: options.policyDir, outFile: temporary });
    options.write(`built ${temporary} (revision ${built.revision}); testing it before it replaces ${outFile}\n`);
    const result = await testPolicy({ ...options, bundleFile: temporary });
    const failed = result.steps.filter((s) => !s.ok).map((s) => s.name);
    if (failed.length > 0) throw new PolicyTestFailed(`${outFile} was left as it was: the new bundle failed ${failed.join("; ")}`, result);
    renameSync(temporary, outFile);
    return { revision: built.revision, outFile, result };
  } finally {
    rmSync(temporary, { force: true });
  }
}
