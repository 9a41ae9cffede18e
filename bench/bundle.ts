// The bench bundle: the shipped demo policies, compiled by the pinned opa, with the
// limits that would otherwise be the refusal raised out of the way, so that a
// stateful scenario measures reading and writing state rather than limit_exceeded
// or rate_limited answers. Every rule still runs; only these numbers change.
import { buildTestBundle, policiesWithData } from "../test/support/bundles.js";

export const RAISED_LIMITS: readonly { path: string[]; value: number; why: string }[] = [
  { path: ["settings", "limits", "payments:transfer", "daily_per_user"], value: 1e12, why: "(c) transfers: the day's total per user (default 1000)" },
  { path: ["settings", "rates", "agent", "per_minute"], value: 1e9, why: "(d) agent reads: per agent (default 120 a minute)" },
  { path: ["settings", "rates", "user", "per_minute"], value: 1e9, why: "(d) agent reads: per user (default 300 a minute)" },
];

/** Builds it, and the policy copies it compiles, in `scratch` (the bench's directory, removed when it ends). */
export async function buildBenchBundle(scratch: string): Promise<{ path: string; revision: string }> {
  let dir: string | undefined;
  for (const change of RAISED_LIMITS) dir = policiesWithData(change.path, change.value, dir, scratch);
  if (!dir) throw new Error("no policy changes");
  return buildTestBundle(dir, "bench-bundle.tar.gz", scratch);
}
