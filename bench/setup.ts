// What a bench that starts Verdicts of its own needs (bench:start, bench:stages): a
// scratch directory, the bench's bundle built by the pinned opa, a database and a test
// issuer; all undone when it finishes.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestIssuer } from "../test/support/issuer.js";
import { buildBenchBundle } from "./bundle.js";
import { startDatabase } from "./database.js";
import type { VerdictSetup } from "./targets/verdict.js";

export async function withVerdictSetup<T>(name: string, run: (setup: VerdictSetup) => Promise<T>): Promise<T> {
  const scratch = mkdtempSync(join(tmpdir(), `verdict-${name}-`));
  try {
    const bundle = await buildBenchBundle(scratch);
    const database = await startDatabase();
    try {
      return await run({ issuer: await createTestIssuer({ dir: scratch }), bundle: bundle.path, mongoUri: database.uri, dir: scratch });
    } finally {
      await database.stop();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
