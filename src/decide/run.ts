// One Check or batch as it moves through the stages, with one typed record per
// item saying how far it got, and the audit event each item becomes.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { StateQuery } from "../contract/index.js";
import { VerdictError } from "../errors/index.js";
import type { PolicyDecision, PolicyEngine, PolicyInput } from "../policy/index.js";
import type { Principal } from "../token/index.js";
import type { Authenticated } from "./authenticate.js";
import type { Base } from "./denials.js";
import type { CheckCommon, CheckItem, DecisionEvent, DecisionResult } from "./types.js";

export type Begun = { at: "begun"; input: PolicyInput; queries: StateQuery[]; decision?: PolicyDecision };

/** One item of a Check or batch, and how far it got. */
export interface Item {
  readonly check: CheckItem;
  readonly base: Base;
  state: { at: "waiting" } | Begun | { at: "decided"; result: DecisionResult };
}

export interface Run {
  readonly common: CheckCommon;
  /** One engine from the first evaluation to the last (held, so a bundle swapped in meanwhile cannot stop it in between). */
  readonly engine: PolicyEngine;
  readonly nowMs: number;
  readonly started: number;
  readonly batch: boolean;
  readonly items: Item[];
  verified?: Authenticated;
}

export function newRun(common: CheckCommon, checks: readonly CheckItem[], engine: PolicyEngine, nowMs: number, batch: boolean): Run {
  const base = (): Base => ({ decisionId: randomUUID(), policyRevision: engine.revision, obligations: [], explain: [] });
  return { common, engine, batch, nowMs, started: performance.now(), items: checks.map((check) => ({ check, base: base(), state: { at: "waiting" } })) };
}

export function principalOf(run: Run): Principal {
  if (!run.verified) throw new VerdictError("internal", "an item reached the policy without a verified token");
  return run.verified.principal;
}

export function resultOf(item: Item): DecisionResult {
  if (item.state.at !== "decided") throw new VerdictError("internal", "an item left the pipeline undecided");
  return item.state.result;
}

/** What the audit trail is handed for an item: its decision, or (none) an internal error. */
export function decisionEvent({ common, engine, nowMs, started, verified }: Run, item: Item, result?: DecisionResult): DecisionEvent {
  return {
    decisionId: item.base.decisionId,
    startedAt: nowMs,
    latencyMs: performance.now() - started,
    input: { ...common, ...item.check },
    ...(result ? { result } : {}),
    ...(verified ? { principal: verified.principal } : {}),
    ...(verified?.tokenHash !== undefined ? { tokenHash: verified.tokenHash } : {}),
    policy: { revision: engine.revision, data: engine.data },
  };
}
