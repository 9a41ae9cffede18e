// `verdict policy build`: compiles a policy directory with the pinned opa into a
// WASM bundle whose revision is a hash of its sources (Rego and data).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { promisify } from "node:util";
import { VerdictError } from "../errors/index.js";
import { toolPath } from "../paths.js";
import { BundleError } from "./bundle.js";
import { DECISION_ENTRYPOINT } from "./engine.js";

const run = promisify(execFile);

export const ENTRYPOINTS = [DECISION_ENTRYPOINT, "verdict/state_queries"];

export interface BuildOptions {
  policyDir: string;
  outFile: string;
  opa?: string;
}

/** Files that are tests, never part of a bundle: `*_test.rego` and test data such as `*_test.json`. */
export const TEST_FILE_PATTERNS = ["*_test.rego", "*_test.json", "*_test.yaml", "*_test.yml"];

const isTestFile = (name: string) => /_test\.(rego|json|ya?ml)$/.test(name);
/** schemas/ holds the contract's JSON Schemas (schema.ts): checked against, never bundled as data (opa build --ignore schemas). */
const isSchemaDir = (name: string) => name === "schemas";
const isSource = (name: string) => /\.(rego|json|ya?ml)$/.test(name) && !isTestFile(name);

/**
 * Policy sources that go into a bundle, as opa loads them: Rego modules and data
 * files (JSON, YAML), not tests. The revision hashes exactly these.
 */
export function bundleSources(policyDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith(".")) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (!isSchemaDir(name)) walk(path);
      } else if (isSource(name)) out.push(path);
    }
  };
  walk(policyDir);
  return out;
}

export function sourceRevision(policyDir: string): string {
  const hash = createHash("sha256");
  for (const file of bundleSources(policyDir)) {
    hash.update(relative(policyDir, file).split(sep).join("/")).update("\0").update(readFileSync(file)).update("\0");
  }
  return `sha256:${hash.digest("hex").slice(0, 16)}`;
}

export async function buildBundle({ policyDir, outFile, opa = toolPath("opa") }: BuildOptions): Promise<{ revision: string; outFile: string }> {
  if (!existsSync(opa)) throw new VerdictError("tool_missing", `${opa} is missing: run npm run tools first`);
  const revision = sourceRevision(policyDir);
  mkdirSync(dirname(outFile), { recursive: true });
  const args = [
    "build",
    "-t",
    "wasm",
    ...ENTRYPOINTS.flatMap((e) => ["-e", e]),
    "--revision",
    revision,
    ...TEST_FILE_PATTERNS.flatMap((p) => ["--ignore", p]),
    "--ignore",
    ".*",
    "--ignore",
    "schemas",
    "-o",
    outFile,
    ".",
  ];
  try {
    await run(opa, args, { cwd: policyDir, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    // opa prints its errors on stdout or stderr depending on the kind
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new BundleError(`opa build failed:\n${stderr?.trim() || stdout?.trim() || (error as Error).message}`);
  }
  return { revision, outFile };
}
