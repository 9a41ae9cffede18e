// The path of one Check: token -> (state) -> policy -> enforce. Each stage is a
// module of its own; this file only puts them in order and turns each stage's
// failure into a decision that fails closed.
import { randomUUID } from "node:crypto";
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
} from "../policy/index.js";
import { reason } from "../reasons/index.js";
import { applyObligations, StateUnavailableError, type StateStore } from "../state/index.js";
import { TokenError, type Principal, type TokenVerifier, type VerifiedToken } from "../token/index.js";
import type { CheckInput, DecisionName, DecisionResult } from "./types.js";

export interface PolicySource {
  /**
   * The engine that decides now. The pipeline calls decide() on it in the same
   * tick, so a bundle swapped out meanwhile still finishes this evaluation.
   */
  current(): PolicyEngine;
  /** A candidate engine evaluated beside the active one (shadow evaluation), if any. */
  shadow?(): PolicyEngine | undefined;
}

export interface DeciderDeps {
  verifier: TokenVerifier;
  policies: PolicySource;
  state: StateStore;
  log: Logger;
  metrics?: Metrics;
  /** Where shadow disagreements are recorded; without it they are only counted. */
  shadowRecorder?: ShadowRecorder;
  /** How long an answer may wait for a shadow evaluation still running (it goes on in the background). */
  shadowWaitMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

const EFFECT_DECISION: Record<PolicyDecision["effect"], DecisionName> = { allow: "ALLOW", deny: "DENY", step_up: "STEP_UP" };

export class Decider {
  private readonly now: () => number;
  private readonly metrics: Metrics;

  constructor(private readonly deps: DeciderDeps) {
    this.now = deps.now ?? Date.now;
    this.metrics = deps.metrics ?? createMetrics();
  }

  async check(input: CheckInput): Promise<DecisionResult> {
    const decisionId = randomUUID();
    const nowMs = this.now();
    const base = { decisionId, policyRevision: this.deps.policies.current().revision, obligations: [], explain: [] };

    let verified: VerifiedToken;
    try {
      verified = await this.deps.verifier.verify(input.token, input.caller.audience, nowMs / 1000);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      return {
        ...base,
        decision: "DENY",
        reasons: [reason(error.code, error.message)],
        challenge: { error: "invalid_token", scopes: [], acrValues: [], description: error.message },
      };
    }
    const principal = verified.principal;

    const policyInput: PolicyInput = {
      action: input.action,
      resource: input.resource,
      context: input.context,
      principal: policyPrincipal(principal),
      caller: { api: input.caller.name, audience: input.caller.audience },
      state: {},
      now: Math.floor(nowMs / 1000),
    };

    // One engine from here to the answer; the shadow starts at the same moment and
    // runs beside it.
    const engine = this.deps.policies.current();
    const evaluation = engine.decide(policyInput);
    const shadow = this.startShadow(policyInput);
    const at = { ...base, policyRevision: engine.revision };

    let decision: PolicyDecision;
    try {
      decision = await evaluation;
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      const failure = error instanceof EvaluationError ? error.kind : "invalid_output";
      this.metrics.policyEvaluationFailures.inc({ bundle: "active", reason: failure });
      this.deps.log.error({ decisionId, policyRevision: engine.revision, reason: failure, err: error.message }, "policy error; denying");
      const result: DecisionResult = { ...at, principal, decision: "DENY", reasons: [reason("policy_error")] };
      return this.withShadow(result, failedVerdict(engine.revision, error.message), shadow, input, principal);
    }
    const result = await this.enforce({ ...at, explain: decision.explain }, principal, decision, input, nowMs);
    return this.withShadow(result, policyVerdict(engine.revision, decision), shadow, input, principal);
  }

  /** Turns the policy's decision into the answer, applying obligations when it allows. */
  private async enforce(
    base: Pick<DecisionResult, "decisionId" | "policyRevision" | "obligations" | "explain">,
    principal: Principal,
    decision: PolicyDecision,
    input: CheckInput,
    nowMs: number,
  ): Promise<DecisionResult> {
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
      const stepUp = decision.stepUp ?? { acrValues: [] };
      return {
        ...base,
        principal,
        decision: "STEP_UP",
        reasons: decision.reasons,
        challenge: {
          error: "insufficient_user_authentication",
          scopes: [],
          acrValues: stepUp.acrValues,
          ...(stepUp.maxAge !== undefined ? { maxAge: stepUp.maxAge } : {}),
          description: "A stronger or more recent authentication of the user is required.",
        },
      };
    }

    if (decision.obligations.length === 0 || input.dryRun) {
      return { ...base, principal, decision: "ALLOW", reasons: decision.reasons };
    }
    try {
      const outcome = await applyObligations(this.deps.state, decision.obligations, nowMs, (error) =>
        this.deps.log.error({ decisionId, err: (error as Error).message }, "could not give back an obligation; it stays held until its window ends"),
      );
      if (!outcome.ok) return { ...base, principal, decision: "DENY", reasons: [outcome.reason] };
      return { ...base, principal, decision: "ALLOW", reasons: decision.reasons, obligations: outcome.applied };
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      this.deps.log.warn({ decisionId, err: error.message }, "state unavailable; denying");
      return { ...base, principal, decision: "DENY", reasons: [reason("state_unavailable")] };
    }
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
    return engine.decide(input).then(
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
    input: CheckInput,
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
          caller: input.caller.name,
          action: input.action,
          resource: { type: input.resource.type, id: input.resource.id },
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
