// The path of a decision: token -> state -> policy -> enforce. Each stage is a
// module of its own; this file only puts them in order and turns each stage's
// failure into a decision that fails closed. A Check is a batch of one: a
// CheckBatch verifies its token once, reads all its items' state in one round
// trip, and then decides each item on its own.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { createMetrics, type Logger, type Metrics } from "../observability/index.js";
import {
  compareVerdicts,
  EvaluationError,
  failedVerdict,
  policyPrincipal,
  PolicyError,
  policyVerdict,
  type PolicyDecision,
  type PolicyEngine,
  type PolicyInput,
  type PolicyVerdict,
  type ShadowRecorder,
  type StateQuery,
} from "../policy/index.js";
import { reason } from "../reasons/index.js";
import {
  applyObligations,
  consumeOnce,
  isConsumed,
  readStates,
  releaseDecision,
  StateUnavailableError,
  type ReleasedObligation,
  type ReleaseStatus,
  type StateStore,
} from "../state/index.js";
import { sha256Hex, TokenError, verifyDpopProof, type DpopOptions, type Principal, type TokenVerifier, type VerifiedToken } from "../token/index.js";
import { assertedPrincipal } from "./asserted.js";
import type {
  BatchInput,
  BatchItemResult,
  Caller,
  CheckCommon,
  CheckInput,
  CheckItem,
  DecisionEvent,
  DecisionName,
  DecisionRecorder,
  DecisionResult,
} from "./types.js";

export interface PolicySource {
  /**
   * The engine that decides now. The pipeline takes it once per Check (or batch),
   * so a bundle swapped out meanwhile still finishes the decisions it started.
   */
  current(): PolicyEngine;
  /** A candidate engine evaluated beside the active one (shadow evaluation), if any. */
  shadow?(): PolicyEngine | undefined;
}

export interface DeciderDeps {
  verifier: TokenVerifier;
  policies: PolicySource;
  state: StateStore;
  dpop: DpopOptions;
  log: Logger;
  metrics?: Metrics;
  /** Where shadow disagreements are recorded; without it they are only counted. */
  shadowRecorder?: ShadowRecorder;
  /** How long an answer may wait for a shadow evaluation still running (it goes on in the background). */
  shadowWaitMs?: number;
  /** The audit trail; every decision (and every Check that ends in an internal error) is handed to it. */
  audit?: DecisionRecorder;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

type Base = Pick<DecisionResult, "decisionId" | "policyRevision" | "obligations" | "explain">;

const EFFECT_DECISION: Record<PolicyDecision["effect"], DecisionName> = { allow: "ALLOW", deny: "DENY", step_up: "STEP_UP" };

/** One Check or batch as it moves through the pipeline: what its audit records need besides the results. */
interface Trace {
  nowMs: number;
  engine: PolicyEngine;
  /** One per item, with its decision id. */
  bases: Base[];
  verified?: Authenticated;
}

/** Who the decision is for: a verified token's principal, or a subject the caller vouches for (no token hash). */
type Authenticated = Pick<VerifiedToken, "principal"> & { tokenHash?: string };

/** A decision that is settled before the policy runs, or the input the policy will see. */
type Pending =
  | { settled: DecisionResult }
  | {
      input: PolicyInput;
      queries: StateQuery[];
      /** Already made when the policy needed no state (one trip to the evaluator). */
      decision?: PolicyDecision;
      base: Base;
      item: CheckItem;
    };

export class Decider {
  private readonly now: () => number;
  private readonly metrics: Metrics;

  constructor(private readonly deps: DeciderDeps) {
    this.now = deps.now ?? Date.now;
    this.metrics = deps.metrics ?? createMetrics();
  }

  async check(input: CheckInput): Promise<DecisionResult> {
    const { action, resource, context, authzen, ...common } = input;
    const [result] = await this.decide(common, [{ action, resource, context, ...(authzen ? { authzen } : {}) }], false);
    return result as DecisionResult;
  }

  /** Each valid item gets its own decision; an item that failed validation keeps its error. */
  async checkBatch(input: BatchInput): Promise<BatchItemResult[]> {
    const { items, ...common } = input;
    const valid = items.flatMap((entry) => (entry.ok ? [entry.item] : []));
    const decided = valid.length > 0 ? await this.decide(common, valid, true) : [];
    let next = 0;
    return items.map((entry) =>
      entry.ok ? { ok: true, result: decided[next++] as DecisionResult } : { ok: false, error: { code: "invalid_argument", message: entry.error } },
    );
  }

  /**
   * Undoes the obligations of an earlier decision of this caller whose action did
   * not happen. Idempotent. Throws StateUnavailableError when the database is down.
   */
  async release(decisionId: string, caller: Caller): Promise<{ status: ReleaseStatus; released: ReleasedObligation[] }> {
    return releaseDecision(this.deps.state, decisionId, caller.name, new Date(this.now()));
  }

  /**
   * Decides the items and hands every decision to the audit trail. A PDP that
   * cannot audit refuses to decide (docs/audit.md): it asks the trail first, so no
   * obligation is applied for a decision that would then be turned into a deny.
   */
  private async decide(common: CheckCommon, items: CheckItem[], batch: boolean): Promise<DecisionResult[]> {
    const started = performance.now();
    // One engine from the first evaluation to the last, held so that a bundle
    // swapped in meanwhile cannot stop it in between.
    const engine = this.deps.policies.current();
    const trace: Trace = {
      nowMs: this.now(),
      engine,
      bases: items.map(() => ({ decisionId: randomUUID(), policyRevision: engine.revision, obligations: [], explain: [] })),
    };
    const audit = this.deps.audit;
    if (audit && !audit.ready()) return trace.bases.map((base) => this.unaudited(base, common));

    const release = engine.hold();
    let results: DecisionResult[];
    try {
      results = await this.decideWith(trace, common, items, batch);
    } catch (error) {
      items.forEach((item, i) => audit?.record(this.event(trace, i, { ...common, ...item }, started)));
      throw error;
    } finally {
      release();
    }
    if (!audit) return results;
    return results.map((result, i) => {
      const kept = audit.record(this.event(trace, i, { ...common, ...(items[i] as CheckItem) }, started, result));
      return kept ? result : this.unaudited(trace.bases[i] as Base, common, result);
    });
  }

  private event(trace: Trace, index: number, input: CheckInput, started: number, result?: DecisionResult): DecisionEvent {
    return {
      decisionId: (trace.bases[index] as Base).decisionId,
      startedAt: trace.nowMs,
      latencyMs: performance.now() - started,
      input,
      ...(result ? { result } : {}),
      ...(trace.verified ? { principal: trace.verified.principal } : {}),
      ...(trace.verified?.tokenHash !== undefined ? { tokenHash: trace.verified.tokenHash } : {}),
      policy: { revision: trace.engine.revision, data: trace.engine.data },
    };
  }

  private unaudited(base: Base, common: CheckCommon, wouldBe?: DecisionResult): DecisionResult {
    this.deps.log.error(
      { decisionId: base.decisionId, caller: common.caller.name, requestId: common.requestId, wouldBe: wouldBe?.decision },
      "the audit trail cannot keep a record (buffer full, spill file unwritable); denying",
    );
    return {
      ...base,
      explain: [],
      ...(wouldBe?.principal ? { principal: wouldBe.principal } : {}),
      decision: "DENY",
      reasons: [reason("audit_unavailable")],
    };
  }

  private async decideWith(trace: Trace, common: CheckCommon, items: CheckItem[], batch: boolean): Promise<DecisionResult[]> {
    const { engine, nowMs, bases } = trace;

    // 1. The token, once for all items.
    let verified: Authenticated;
    try {
      verified = await this.authenticate(common, nowMs, (bases[0] as Base).decisionId);
    } catch (error) {
      const denial = this.tokenDenial(error, bases[0] as Base);
      return bases.map((base) => ({ ...denial, ...base }));
    }
    trace.verified = verified;
    const principal = verified.principal;

    // 2. What each item's policy input is, and the state it declares it needs.
    const counts: Record<string, number> = {};
    for (const item of items) counts[item.action] = (counts[item.action] ?? 0) + 1;
    const pending: Pending[] = await Promise.all(
      items.map(async (item, index): Promise<Pending> => {
        const base = bases[index] as Base;
        const input: PolicyInput = {
          ...item,
          principal: policyPrincipal(principal),
          caller: { api: common.caller.name, audience: common.caller.audience },
          state: {},
          now: Math.floor(nowMs / 1000),
          ...(batch ? { batch: { size: items.length, index, actions: counts } } : {}),
        };
        try {
          const { queries, decision } = await engine.begin(input);
          return { input, queries, ...(decision ? { decision } : {}), base, item };
        } catch (error) {
          return { settled: this.policyDenial(error, base, principal, engine) };
        }
      }),
    );

    // 3. All of it read in one round trip (none needed: no call).
    const open = pending.filter((p): p is Extract<Pending, { input: PolicyInput }> => "input" in p);
    let stateDown = false;
    try {
      const states = await readStates(this.deps.state, open.map((p) => p.queries), nowMs);
      open.forEach((p, i) => (p.input.state = states[i] ?? {}));
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      this.deps.log.warn({ decisionId: (bases[0] as Base).decisionId, err: error.message }, "state unavailable; denying what needs it");
      stateDown = true;
    }

    // 4. Each item decided, then enforced, in order (earlier items reserve first).
    const results: DecisionResult[] = [];
    for (const p of pending) {
      if ("settled" in p) {
        results.push(p.settled);
        continue;
      }
      if (stateDown && p.queries.length > 0) {
        results.push({ ...p.base, principal, decision: "DENY", reasons: [reason("state_unavailable")] });
        continue;
      }
      // The shadow starts at the same moment as the active evaluation and runs beside it.
      const evaluation = p.decision ? Promise.resolve(p.decision) : engine.decide(p.input);
      const shadow = this.startShadow(p.input);
      let decision: PolicyDecision;
      try {
        decision = await evaluation;
      } catch (error) {
        const denial = this.policyDenial(error, p.base, principal, engine);
        results.push(await this.withShadow(denial, failedVerdict(engine.revision, (error as Error).message), shadow, common, p.item, principal));
        continue;
      }
      const result = await this.enforce({ ...p.base, explain: decision.explain }, principal, decision, common, nowMs);
      results.push(await this.withShadow(result, policyVerdict(engine.revision, decision), shadow, common, p.item, principal));
    }
    return results;
  }

  /**
   * The token, verified for the calling API; for a sender-constrained token
   * (cnf.jkt), also the DPoP proof of possession, used at most once.
   */
  private async authenticate(common: CheckCommon, nowMs: number, decisionId: string): Promise<Authenticated> {
    const now = nowMs / 1000;
    // AuthZEN without a token: the subject the PEP names, only for a caller configured to vouch for it.
    if (common.token === "" && common.subject !== undefined && common.caller.trustsAssertedSubjects === true) {
      return { principal: assertedPrincipal(common.subject, common.caller, now) };
    }
    const verified = await this.deps.verifier.verify(common.token, {
      audience: common.caller.audience,
      knownScopes: common.caller.scopes,
      unknownScopes: common.caller.unknownScopes,
      now,
    });
    if (common.subject !== undefined && verified.principal.subject !== common.subject) throw new TokenError("subject_mismatch");
    const jkt = verified.principal.confirmationJkt;
    if (jkt !== undefined) {
      const proof = await verifyDpopProof(common.dpop, common.token, jkt, now, this.deps.dpop);
      const id = `dpop/${proof.jkt}/${sha256Hex(proof.jti)}`;
      // A dry run writes nothing: it sees a replay, but does not use the proof up.
      const first = common.dryRun
        ? !(await isConsumed(this.deps.state, id, new Date(nowMs)))
        : await consumeOnce(this.deps.state, id, new Date(proof.rememberUntil * 1000), new Date(nowMs), decisionId);
      if (!first) throw new TokenError("dpop_replayed");
    }
    return verified;
  }

  private tokenDenial(error: unknown, base: Base): DecisionResult {
    if (error instanceof StateUnavailableError) {
      this.deps.log.warn({ decisionId: base.decisionId, err: error.message }, "state unavailable for the DPoP replay check; denying");
      return { ...base, decision: "DENY", reasons: [reason("state_unavailable")] };
    }
    if (!(error instanceof TokenError)) throw error;
    const dpop = error.code === "dpop_invalid" || error.code === "dpop_replayed";
    return {
      ...base,
      decision: "DENY",
      reasons: [reason(error.code, error.message)],
      challenge: { error: dpop ? "invalid_dpop_proof" : "invalid_token", scopes: [], acrValues: [], description: error.message },
    };
  }

  private policyDenial(error: unknown, base: Base, principal: Principal, engine: PolicyEngine): DecisionResult {
    if (!(error instanceof PolicyError)) throw error;
    const failure = error instanceof EvaluationError ? error.kind : "invalid_output";
    this.metrics.policyEvaluationFailures.inc({ bundle: "active", reason: failure });
    this.deps.log.error({ decisionId: base.decisionId, policyRevision: engine.revision, reason: failure, err: error.message }, "policy error; denying");
    return { ...base, principal, decision: "DENY", reasons: [reason("policy_error")] };
  }

  /**
   * Starts the shadow evaluation if a candidate is loaded and one of its workers is
   * idle: shadow evaluation is skipped (and counted) rather than queued, so it can
   * never slow the answers down. It resolves, never rejects.
   */
  private startShadow(input: PolicyInput): Promise<PolicyVerdict> | undefined {
    const engine = this.deps.policies.shadow?.();
    if (!engine) return undefined;
    if (!engine.hasIdleWorker()) {
      this.metrics.shadowEvaluations.inc({ outcome: "skipped" });
      return undefined;
    }
    const revision = engine.revision;
    let release: () => void;
    try {
      release = engine.hold();
    } catch {
      return undefined; // retired between the check and now: skip, like a busy candidate
    }
    return engine.decide(input).finally(release).then(
      (decision) => policyVerdict(revision, decision),
      (error: unknown) => {
        this.metrics.policyEvaluationFailures.inc({ bundle: "shadow", reason: error instanceof EvaluationError ? error.kind : "invalid_output" });
        return failedVerdict(revision, error instanceof Error ? error.message : String(error));
      },
    );
  }

  /**
   * Compares and records the shadow's answer whenever it comes; puts it on the
   * result only if it came within shadowWaitMs of the answer being ready.
   */
  private async withShadow(
    result: DecisionResult,
    active: PolicyVerdict,
    shadow: Promise<PolicyVerdict> | undefined,
    common: CheckCommon,
    item: CheckItem,
    principal: Principal,
  ): Promise<DecisionResult> {
    if (!shadow) return result;
    const compared = shadow.then((verdict) => {
      const differs = compareVerdicts(active, verdict);
      this.metrics.shadowEvaluations.inc({ outcome: verdict.error !== undefined ? "error" : differs.length > 0 ? "disagree" : "agree" });
      if (differs.length > 0) {
        this.deps.shadowRecorder?.record({
          decisionId: result.decisionId,
          at: new Date(this.now()),
          caller: common.caller.name,
          action: item.action,
          resource: { type: item.resource.type, id: item.resource.id },
          subject: principal.subject,
          clientId: principal.clientId,
          clientType: principal.clientType,
          differs,
          active,
          shadow: verdict,
        });
      }
      return { verdict, differs };
    });
    const settled = await within(compared, this.deps.shadowWaitMs ?? 5);
    if (!settled) return result;
    return {
      ...result,
      shadow: {
        revision: settled.verdict.revision,
        effect: EFFECT_DECISION[settled.verdict.effect],
        reasons: settled.verdict.reasons,
        agrees: settled.differs.length === 0,
      },
    };
  }

  /** Turns the policy's decision into the answer, applying obligations when it allows. */
  private async enforce(base: Base, principal: Principal, decision: PolicyDecision, common: CheckCommon, nowMs: number): Promise<DecisionResult> {
    const { decisionId } = base;
    if (decision.effect === "deny") {
      return {
        ...base,
        principal,
        decision: "DENY",
        reasons: decision.reasons,
        ...(decision.requiredScopes.length > 0
          ? {
              challenge: {
                error: "insufficient_scope" as const,
                scopes: decision.requiredScopes,
                acrValues: [],
                description: "The token lacks a scope this action needs.",
              },
            }
          : {}),
      };
    }
    if (decision.effect === "step_up") {
      return { ...base, principal, decision: "STEP_UP", reasons: decision.reasons, challenge: stepUpChallenge(decision.stepUp ?? { acrValues: [] }) };
    }

    if (decision.obligations.length === 0 || common.dryRun) {
      return { ...base, principal, decision: "ALLOW", reasons: decision.reasons };
    }
    try {
      const outcome = await applyObligations(this.deps.state, decision.obligations, {
        nowMs,
        decisionId,
        api: common.caller.name,
        onUndoFailure: (error) =>
          this.deps.log.error({ decisionId, err: (error as Error).message }, "could not give back an obligation; it stays held until its window ends"),
      });
      if (!outcome.ok) {
        if (outcome.onFailure.effect === "step_up") {
          return { ...base, principal, decision: "STEP_UP", reasons: [outcome.reason], challenge: stepUpChallenge(outcome.onFailure.stepUp) };
        }
        return { ...base, principal, decision: "DENY", reasons: [outcome.reason] };
      }
      return { ...base, principal, decision: "ALLOW", reasons: decision.reasons, obligations: outcome.applied };
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      this.deps.log.warn({ decisionId, err: error.message }, "state unavailable; denying");
      return { ...base, principal, decision: "DENY", reasons: [reason("state_unavailable")] };
    }
  }
}

/** The promise's value if it settles within ms, else undefined (it keeps running). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}

function stepUpChallenge(stepUp: { acrValues: string[]; maxAge?: number }): DecisionResult["challenge"] {
  return {
    error: "insufficient_user_authentication",
    scopes: [],
    acrValues: stepUp.acrValues,
    ...(stepUp.maxAge !== undefined ? { maxAge: stepUp.maxAge } : {}),
    description: "A stronger or more recent authentication of the user is required.",
  };
}
