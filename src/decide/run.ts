// One Check or batch as it moves through the stages, with one typed record per
// item saying how far it got, and the audit event each item becomes.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { StateQuery } from "../contract/index.js";
import { VerdictError } from "../errors/index.js";
import { PreviewTally } from "../obligations/index.js";
import type { PolicyDecision, PolicyEngine, PolicyInput } from "../policy/index.js";
import { OverloadedError } from "../state/index.js";
import type { Principal } from "../token/index.js";
import type { Authenticated } from "./authenticate.js";
import type { Base } from "./denials.js";
import type { CheckCommon, CheckItem, DecisionEvent, DecisionResult, StatePorts } from "./types.js";

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
  /** A dry run's tally: its items' obligations are previewed against it, in order, and nothing is written. */
  readonly preview?: PreviewTally;
  verified?: Authenticated;
  /** The run's admission to the database, asked for at its first state need and held until it is done. */
  ticket?: Promise<() => void>;
  /** Set when the run begins applying obligations: from then on it finishes, whatever its caller's deadline. */
  applying?: boolean;
  /** Gives back the run's place at the database, if it had one. */
  done(): void;
}

export function newRun(common: CheckCommon, checks: readonly CheckItem[], engine: PolicyEngine, nowMs: number, batch: boolean): Run {
  const base = (): Base => ({ decisionId: randomUUID(), policyRevision: engine.revision, obligations: [], explain: [] });
  const run: Run = {
    common,
    engine,
    batch,
    nowMs,
    started: performance.now(),
    items: checks.map((check) => ({ check, base: base(), state: { at: "waiting" } })),
    ...(common.dryRun ? { preview: new PreviewTally() } : {}),
    done: () =>
      void run.ticket?.then(
        (release) => release(),
        () => undefined,
      ),
  };
  return run;
}

/**
 * Waits for the run's turn at the database (once per run: every later state call of
 * the run goes at once). Its first state need comes before anything is applied, so
 * a refusal here (OverloadedError from src/state) leaves nothing half-done.
 *
 * A run whose caller's deadline has passed reads and applies nothing more unless it
 * has begun applying obligations (a batch is never left half-applied): its caller
 * has stopped waiting, and a reservation made for an answer nobody receives would
 * hold the caller's limits for an action that never happens (under overload, many).
 */
export async function admitted(run: Run, admission: StatePorts["admission"]): Promise<void> {
  run.ticket ??= admission.admit(run.nowMs, run.common.answerBy);
  await run.ticket;
  const { answerBy } = run.common;
  if (!run.applying && answerBy !== undefined && Date.now() >= answerBy) {
    throw new OverloadedError("its caller's deadline passed before its state was read or applied; nothing was applied");
  }
}

/** Why a run that threw made no decision, for its audit record. */
export function failureOf(error: unknown): DecisionEvent["failure"] {
  return error instanceof VerdictError && error.code === "overloaded" ? "overloaded" : "internal_error";
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
export function decisionEvent(
  { common, engine, nowMs, started, verified }: Run,
  item: Item,
  result?: DecisionResult,
  failure?: DecisionEvent["failure"],
): DecisionEvent {
  return {
    ...(failure ? { failure } : {}),
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
