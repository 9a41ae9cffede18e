// `verdict policy build`: compiles a policy directory with the pinned opa into a
// WASM bundle whose revision is a hash of its sources (Rego and data).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { promisify } from "node:util";
import { toolPath } from "../paths.js";
import { DECISION_ENTRYPOINT } from "./engine.js";

const run = promisify(execFile);

export const ENTRYPOINTS = [DECISION_ENTRYPOINT, "verdict/state_queries"];

export interface BuildOptions {
  policyDir: string;
  outFile: string;
  opa?: string;
}

/** Policy sources that go into a bundle: Rego modules (not their tests) and data files. */
export function bundleSources(policyDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if ((name.endsWith(".rego") && !name.endsWith("_test.rego")) || name === "data.json") out.push(path);
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
  if (!existsSync(opa)) throw new Error(`${opa} is missing: run npm run tools first`);
  const revision = sourceRevision(policyDir);
  mkdirSync(dirname(outFile), { recursive: true });
  const args = ["build", "-t", "wasm", ...ENTRYPOINTS.flatMap((e) => ["-e", e]), "--revision", revision, "--ignore", "*_test.rego", "-o", outFile, "."];
  try {
    await run(opa, args, { cwd: policyDir, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`opa build failed:\n${stderr || (error as Error).message}`);
  }
  return { revision, outFile };
}
