// Once per test run: a temporary directory that holds every other one, a MongoDB
// server, and the policy bundle compiled from the current policies/ by the pinned
// opa (so what is tested is what runs).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { defaultPolicyDir } from "../../src/paths.js";
import { buildBundle } from "../../src/policy/index.js";
import { ensureChromium } from "../support/browser.js";
import { startTestMongo, type TestMongo } from "./mongo.js";
import { makeRunDirectory, removeAbandonedRunDirectories } from "./run-directory.js";

declare module "vitest" {
  export interface ProvidedContext {
    mongoUri: string;
    bundlePath: string;
    /** Chromium for the console's browser tests, or why there is none. */
    chromium: { path: string } | { problem: string };
  }
}

/**
 * Points TMPDIR (os.tmpdir(): what the tests, the Verdicts and browsers they start, and
 * the tools those run use) at a directory of this run's own, removed when the run ends
 * (and, when the run is killed, at the next run's start): the tests' temporary files do
 * not pile up in the system's temporary directory, run after run. Set before the test
 * processes are forked, which inherit it.
 */
function ownTemporaryDirectory(): () => void {
  for (const name of removeAbandonedRunDirectories(tmpdir())) process.stderr.write(`test setup: removed ${name}, left by a run that was killed\n`);
  const root = makeRunDirectory(tmpdir());
  const before = process.env["TMPDIR"];
  process.env["TMPDIR"] = root;
  return () => {
    if (before === undefined) delete process.env["TMPDIR"];
    else process.env["TMPDIR"] = before;
    rmSync(root, { recursive: true, force: true });
  };
}

export default async function setup(project: TestProject) {
  const removeTemporary = ownTemporaryDirectory();
  let mongo: TestMongo | undefined;
  try {
    const dir = mkdtempSync(join(tmpdir(), "verdict-test-bundle-"));
    const { outFile } = await buildBundle({ policyDir: defaultPolicyDir, outFile: join(dir, "bundle.tar.gz") });
    mongo = await startTestMongo();
    process.stderr.write(`test setup: MongoDB from ${mongo.kind}; bundle ${outFile}\n`);
    project.provide("mongoUri", mongo.uri);
    project.provide("bundlePath", outFile);
    project.provide(
      "chromium",
      ensureChromium((line) => process.stderr.write(`${line}\n`)),
    );
  } catch (error) {
    await mongo?.stop();
    removeTemporary();
    throw error;
  }
  const started = mongo;
  return async () => {
    await started.stop();
    removeTemporary();
  };
}
