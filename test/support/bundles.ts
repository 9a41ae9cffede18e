// Bundles compiled by the real opa for tests: the shipped policies with changed
// data, and fixture policies under test/fixtures.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultPolicyDir, packageRoot } from "../../src/paths.js";
import { buildBundle } from "../../src/policy/index.js";

export const fixturePolicy = (name: string) => join(packageRoot, "test", "fixtures", name);

/** Compiles a policy directory into a fresh temporary bundle file. */
export async function buildTestBundle(policyDir: string, name = "bundle.tar.gz"): Promise<{ path: string; revision: string }> {
  const out = join(mkdtempSync(join(tmpdir(), "verdict-test-bundle-")), name);
  const { revision } = await buildBundle({ policyDir, outFile: out });
  return { path: out, revision };
}

/** A copy of the shipped policies (or of `from`) with one value of data.json changed, e.g. ["settings", "limits", ...]. */
export function policiesWithData(path: string[], value: unknown, from: string = defaultPolicyDir): string {
  const dir = mkdtempSync(join(tmpdir(), "verdict-test-policies-"));
  cpSync(from, dir, { recursive: true });
  const data = JSON.parse(readFileSync(join(dir, "data.json"), "utf8")) as Record<string, unknown>;
  let node = data;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null) throw new Error(`data.json has no object at ${key}`);
    node = next as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
  writeFileSync(join(dir, "data.json"), JSON.stringify(data, null, 2));
  return dir;
}

/** Compiles a policy under test/fixtures/ with the pinned opa; returns the bundle's path. */
export async function buildFixtureBundle(name: string): Promise<string> {
  return (await buildTestBundle(fixturePolicy(name))).path;
}
