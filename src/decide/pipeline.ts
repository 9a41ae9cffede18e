// The path of a decision, in order: token -> suspensions -> policy input and
// declared state -> state, in one round trip -> policy -> enforce -> audit. Each
// stage is a module of its own (authenticate, shadow, enforce, denials; the
// suspensions stage is src/suspensions, handed in as a gate; run.ts is the record
// each item carries through them); this file only orders them. A Check is a
// batch of one: a CheckBatch verifies its token once, reads all its items' state
// in one round trip, then decides each item on its own, in order.
import { VerdictError } from "../errors/index.js";
import { defaultObligations, releaseDecision, type ObligationRegistry, type ReleaseResult } from "../obligations/index.js";
import { createMetrics, Instruments, type Metrics } from "../observability/index.js";
import {
  EvaluationOverloadedError,
  failedVerdict,
  policyInputs,
  policyVerdict,
  type Begun as BegunEvaluation,
  type PolicyDecision,
  type PolicyEngine,
  type PolicyInput,
} from "../policy/index.js";
import { TokenError, type ReplayGuard } from "../token/index.js";
import { authenticate } from "./authenticate.js";
import { policyDenial, stateDenial, tokenDenial, unaudited } from "./denials.js";
import { awaitsApproval, enforce, type EnforceDeps } from "./enforce.js";
import { admitted, decisionEvent, failureOf, newRun, principalOf, resultOf, type Begun, type Item, type Run } from "./run.js";
import { ShadowEvaluation } from "./shadow.js";
import type { BatchInput, BatchItemResult, Caller, CheckCommon, CheckInput, CheckItem, DecisionResult, DeciderDeps } from "./types.js";

export class Decider {
  private readonly now: () => number;
  private readonly metrics: Metrics;
  /** Stage timings and spans, decision and outcome counts: reported between stages, never inside one. */
  private readonly instruments: Instruments;
  private readonly obligations: ObligationRegistry;
  private readonly enforcing: EnforceDeps;
  private readonly shadow: ShadowEvaluation;

  constructor(private readonly deps: DeciderDeps) {
    const { log, state, shadowRecorder: recorder, shadowWaitMs: waitMs = 5 } = deps;
    this.now = deps.now ?? Date.now;
    this.metrics = deps.instruments?.metrics ?? deps.metrics ?? createMetrics();
    this.instruments = deps.instruments ?? new Instruments(this.metrics);
    this.obligations = deps.obligations ?? defaultObligations;
    this.enforcing = {
      obligations: this.obligations,
      ports: deps.suspensions ? { ...state, suspensions: deps.suspensions } : state,
      log,
      instruments: this.instruments,
      ...(deps.approvals ? { approvals: deps.approvals } : {}),
    };
    this.shadow = new ShadowEvaluation({ engine: () => deps.policies.shadow?.(), metrics: this.metrics, recorder, waitMs, now: this.now });
  }

  async check(input: CheckInput): Promise<DecisionResult> {
    const { action, resource, context, authzen, approvalId, ...common } = input;
    const [result] = await this.decide(
      common,
      [{ action, resource, context, ...(authzen ? { authzen } : {}), ...(approvalId !== undefined ? { approvalId } : {}) }],
      false,
    );
    if (!result) throw new VerdictError("internal", "a Check ended without its decision");
    return result;
  }

  /** Each valid item gets its own decision; an item that failed validation keeps its error. */
  async checkBatch(input: BatchInput): Promise<BatchItemResult[]> {
    const { items, ...common } = input;
    const valid = items.flatMap((entry) => (entry.ok ? [entry.item] : []));
    const decided = (await this.decide(common, valid, true)).values();
    return items.map((entry): BatchItemResult => {
      if (!entry.ok) return { ok: false, error: { code: "invalid_argument", message: entry.error } };
      const next = decided.next();
      if (next.done) throw new VerdictError("internal", "a batch item ended without its decision");
      return { ok: true, result: next.value };
    });
  }

  /** Gives back the obligations of an earlier decision of this caller whose action did not happen. Exactly once; throws StateUnavailableError. */
  async release(decisionId: string, caller: Caller): Promise<ReleaseResult> {
    const result = await releaseDecision(this.obligations, this.deps.state, decisionId, caller.name);
    this.instruments.obligations(
      "released",
      result.released.map((obligation) => obligation.type),
    );
    return result;
  }

  /**
   * Decides the items and hands every decision to the audit trail. A PDP that
   * cannot audit refuses to decide (docs/audit.md): it asks the trail first, so no
   * obligation is applied for a decision that would then be turned into a deny.
   * The trail can still refuse the record itself (it filled meanwhile, and its spill
   * file failed): what that allow applied is then given back.
   */
  private async decide(common: CheckCommon, checks: CheckItem[], batch: boolean): Promise<DecisionResult[]> {
    if (checks.length === 0) return [];
    const engine = this.deps.policies.current();
    const run = newRun(common, checks, engine, this.now(), batch);
    const audit = this.deps.audit;
    if (audit && !audit.ready()) return run.items.map((item) => unaudited(item.base, common, this.deps.log));

    const release = engine.hold();
    try {
      await this.stages(run);
    } catch (error) {
      for (const item of run.items) {
        audit?.record(decisionEvent(run, item, undefined, failureOf(error)));
        // An earlier item's allow applied its obligations, and the call ends without an answer: nobody will release it.
        if (item.state.at === "decided") this.giveBack(item, item.state.result, common);
      }
      throw error;
    } finally {
      release();
      run.done();
    }
    const results = await this.instruments.stage(common.trace, "audit", () =>
      run.items.map((item) => {
        const result = resultOf(item);
        if (!audit || audit.record(decisionEvent(run, item, result))) return result;
        this.giveBack(item, result, common);
        return unaudited(item.base, common, this.deps.log, result);
      }),
    );
    for (const result of results) this.instruments.decided(common.caller.name, result.decision, result.reasons[0]?.code);
    return results;
  }

  /**
   * Gives back what an allow applied that its caller is not told of as one (its record refused by the trail, the
   * answer a deny; or the call failed after it), and the person's approval it used: in the background, as a Release.
   * One that does not land leaves the budget held until its window ends (the approval used): never an overspend.
   */
  private giveBack(item: Item, result: DecisionResult, common: CheckCommon): void {
    const { decisionId } = result;
    const failed = (what: string) => (error: unknown) =>
      this.deps.log.warn({ decisionId, err: error instanceof Error ? error.message : String(error) }, `could not give back ${what} an unanswered allow used`);
    if (result.obligations.length > 0) releaseDecision(this.obligations, this.deps.state, decisionId, common.caller.name).catch(failed("what"));
    const approvalId = item.check.approvalId;
    if (result.decision === "ALLOW" && approvalId !== undefined && !common.dryRun) {
      this.deps.approvals?.giveBackUse?.(approvalId, decisionId, common.caller.name).catch(failed("the approval"));
    }
  }

  private async stages(run: Run): Promise<void> {
    const { common, engine, nowMs, items } = run;
    const [first] = items;
    if (!first) return;

    // 1. The token, once for all items (a DPoP proof's jti is the first state it may need).
    const once = this.deps.state.once;
    const replay: ReplayGuard = {
      useOnce: async (id, until, now) => (await admitted(run, this.deps.state.admission), once.useOnce(id, until, now)),
      isConsumed: async (id, now) => (await admitted(run, this.deps.state.admission), once.isConsumed(id, now)),
    };
    try {
      run.verified = await this.instruments.stage(common.trace, "verify", () => authenticate(common, nowMs, { ...this.deps, replay }));
      this.instruments.tokenVerified("valid", run.verified.via === "jwt-cached");
    } catch (error) {
      this.instruments.tokenVerified(error instanceof TokenError ? error.reason : "error", false);
      const denial = tokenDenial(error, first.base, this.deps.log);
      for (const item of items) item.state = { at: "decided", result: { ...denial, ...item.base } };
      return;
    }
    const principal = run.verified.principal;

    // 2. Suspensions, from memory: a suspended principal is denied here, unless the bundle lets its policy decide.
    const suspension = this.deps.suspensions?.check(principal, nowMs, engine.data);
    if (suspension?.outcome === "deny") {
      for (const item of items) item.state = { at: "decided", result: { ...item.base, principal, decision: "DENY", reasons: [suspension.reason] } };
      return;
    }

    // 3. Each item's policy input, and the state it declares it needs (with the decision too when it needs none).
    const inputOf = policyInputs(
      run.items.map((item) => item.check),
      principal,
      common.caller,
      nowMs,
      run.batch,
    );
    const inputs = items.map((item, index) => {
      const input = inputOf(item.check, index);
      if (suspension) input.suspension = suspension.suspension;
      return input;
    });
    // All the items are admitted to the evaluation queue together or none is, and refused together when
    // none has started in time: a refusal ends the call overloaded, before anything is read or applied.
    const trips = this.admitToPolicy(engine, inputs, common.answerBy);
    let refused: EvaluationOverloadedError | undefined;
    await Promise.all(
      items.map(async (item, index) => {
        const input = inputs[index] as PolicyInput;
        try {
          const { queries, decision } = await this.instruments.stage(common.trace, "evaluate", () => trips[index] as Promise<BegunEvaluation>);
          item.state = { at: "begun", input, queries, ...(decision ? { decision } : {}) };
        } catch (error) {
          if (error instanceof EvaluationOverloadedError) refused = error;
          else item.state = { at: "decided", result: policyDenial(error, item.base, principal, { ...this.deps, metrics: this.metrics }) };
        }
      }),
    );
    if (refused) throw this.countedOverload(refused, inputs.length);

    // 4. All of it read in one round trip (none needed: no call). Unreadable state denies what needs it.
    const begun = items.flatMap((item) => (item.state.at === "begun" ? [{ item, state: item.state }] : []));
    if (begun.some(({ state }) => state.queries.length > 0)) await admitted(run, this.deps.state.admission);
    try {
      const read = () =>
        this.deps.state.counters.read(
          begun.map(({ state }) => state.queries),
          nowMs,
        );
      const declared = begun.some(({ state }) => state.queries.length > 0);
      const states = await (declared ? this.instruments.stage(common.trace, "state", read) : read());
      begun.forEach(({ state }, i) => (state.input.state = states[i] ?? {}));
    } catch (error) {
      for (const { item, state } of begun)
        if (state.queries.length > 0) item.state = { at: "decided", result: stateDenial(error, item.base, principal, this.deps.log) };
    }

    // 5. Each item decided, then enforced, in order (earlier items reserve first).
    for (const item of items) {
      if (item.state.at !== "begun") continue;
      item.state = { at: "decided", result: await this.decideItem(run, item, item.state) };
    }
  }

  /** The items' first evaluations, admitted as one; an overload refusal is counted and rethrown (the call ends RESOURCE_EXHAUSTED). */
  private admitToPolicy(engine: PolicyEngine, inputs: PolicyInput[], answerBy: number | undefined): Promise<BegunEvaluation>[] {
    try {
      return engine.beginAll(inputs, answerBy);
    } catch (error) {
      throw error instanceof EvaluationOverloadedError ? this.countedOverload(error, inputs.length) : error;
    }
  }

  /** An overload refusal of a decision's `items` evaluations, counted in the metrics; returned for the caller to throw. */
  private countedOverload(error: EvaluationOverloadedError, items: number): EvaluationOverloadedError {
    this.metrics.policyEvaluationFailures.inc({ bundle: "active", reason: "overloaded" }, items);
    return error;
  }

  private async decideItem(run: Run, item: Item, { input, decision: early }: Begun): Promise<DecisionResult> {
    const { engine, common } = run;
    const principal = principalOf(run);
    const attach = (result: DecisionResult, verdict: Parameters<ShadowEvaluation["attach"]>[1]) =>
      this.shadow.attach(result, verdict, shadow, common, item.check, principal);
    // The shadow starts at the same moment as the active evaluation and runs beside it.
    const evaluation = early ? Promise.resolve(early) : this.instruments.stage(common.trace, "evaluate", () => engine.decide(input, "continuing"));
    const shadow = this.shadow.start(input);
    let decision: PolicyDecision;
    try {
      decision = await evaluation;
    } catch (error) {
      const denial = policyDenial(error, item.base, principal, { ...this.deps, metrics: this.metrics });
      return attach(denial, failedVerdict(engine.revision, error instanceof Error ? error.message : String(error)));
    }
    // What writes (an allow's obligations, an approval asked for or used) waits for its turn at the database and is
    // not begun once its caller has stopped waiting: nobody would learn the decision id to release it, or the approval's.
    const approval = awaitsApproval(decision);
    // Only these begin what a batch must finish: a denial's brake counts whatever happens, and lets no later item past the deadline.
    const applies = (decision.effect === "allow" && decision.obligations.length > 0) || approval;
    if (applies) {
      await admitted(run, this.deps.state.admission);
      run.applying = true;
    }
    // Obligations count from when they are applied, not from the call's arrival: a decision that waited (for its turn
    // at the database, for the policy) would otherwise count in a window that has ended (its counter maybe deleted,
    // and created again empty) or drop out of a sliding window early. Counting later only ever refuses more.
    const appliedAt = Math.max(run.nowMs, this.now());
    const result = await this.instruments.stage(common.trace, "enforce", () =>
      enforce(decision, item.base, principal, common, appliedAt, this.enforcing, item.check, run.preview),
    );
    return attach(result, policyVerdict(engine.revision, decision, engine.obligations));
  }
}
