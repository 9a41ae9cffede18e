// The bench bundle: the shipped demo policies, compiled by the pinned opa, with the
// limits that would otherwise be the refusal raised out of the way, so that a
// stateful scenario measures reading and writing state rather than limit_exceeded
// or rate_limited answers. Every rule still runs; only these numbers change.
import { copyFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { buildTestBundle, policiesWithData } from "../test/support/bundles.js";

export const RAISED_LIMITS: readonly { path: string[]; value: number; why: string }[] = [
  { path: ["settings", "limits", "payments:transfer", "daily_per_user"], value: 1e12, why: "(c) transfers: the day's total per user (default 1000)" },
  { path: ["settings", "rates", "agent", "per_minute"], value: 1e9, why: "(d) agent reads: per agent (default 120 a minute)" },
  { path: ["settings", "rates", "user", "per_minute"], value: 1e9, why: "(d) agent reads: per user (default 300 a minute)" },
];

/** Builds it into `scratch` (the bench's directory, removed when it ends); the policy copies it compiled are removed at once. */
export async function buildBenchBundle(scratch: string): Promise<{ path: string; revision: string }> {
  const copies: string[] = [];
  try {
    for (const change of RAISED_LIMITS) copies.push(policiesWithData(change.path, change.value, copies.at(-1)));
    const built = await buildTestBundle(copies.at(-1) as string, "bench-bundle.tar.gz");
    const path = join(scratch, "bench-bundle.tar.gz");
    copyFileSync(built.path, path);
    rmSync(dirname(built.path), { recursive: true, force: true });
    return { path, revision: built.revision };
  } finally {
    for (const dir of copies) rmSync(dir, { recursive: true, force: true });
  }
}
