import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildBundle } from "../../src/policy/index.js";

/** Compiles a policy under test/fixtures/ with the pinned opa; returns the bundle's path. */
export async function buildFixtureBundle(name: string): Promise<string> {
  const policyDir = fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
  const { outFile } = await buildBundle({ policyDir, outFile: join(mkdtempSync(join(tmpdir(), `verdict-${name}-`)), "bundle.tar.gz") });
  return outFile;
}
