// Once per test run: a MongoDB server, and the policy bundle compiled from the
// current policies/ by the pinned opa (so what is tested is what runs).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { defaultPolicyDir } from "../../src/paths.js";
import { buildBundle } from "../../src/policy/index.js";
import { ensureChromium } from "../support/browser.js";
import { startTestMongo } from "./mongo.js";

declare module "vitest" {
  export interface ProvidedContext {
    mongoUri: string;
    bundlePath: string;
    /** Chromium for the console's browser tests, or why there is none. */
    chromium: { path: string } | { problem: string };
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), "verdict-test-bundle-"));
  const { outFile } = await buildBundle({ policyDir: defaultPolicyDir, outFile: join(dir, "bundle.tar.gz") });
  const mongo = await startTestMongo();
  process.stderr.write(`test setup: MongoDB from ${mongo.kind}; bundle ${outFile}\n`);
  project.provide("mongoUri", mongo.uri);
  project.provide("bundlePath", outFile);
  project.provide(
    "chromium",
    ensureChromium((line) => process.stderr.write(`${line}\n`)),
  );
  return async () => {
    await mongo.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
