// The path of one Check: token -> (state) -> policy -> enforce. Each stage is a
// module of its own; this file only puts them in order and turns each stage's
// failure into a decision that fails closed.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Logger } from "../observability/index.js";
import { policyPrincipal, PolicyError, type PolicyDecision, type PolicyEngine, type PolicyInput } from "../policy/index.js";
import { reason } from "../reasons/index.js";
import { applyObligations, StateUnavailableError, type StateStore } from "../state/index.js";
import { TokenError, type TokenVerifier, type VerifiedToken } from "../token/index.js";
import type { CheckInput, DecisionEvent, DecisionRecorder, DecisionResult } from "./types.js";

export interface PolicySource {
  current(): PolicyEngine;
}

export interface DeciderDeps {
  verifier: TokenVerifier;
  policies: PolicySource;
  state: StateStore;
  log: Logger;
  /** The audit trail; every decision (and every Check that ends in an internal error) is handed to it. */
  audit?: DecisionRecorder;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** One Check as it moves through the pipeline: what its audit record needs besides the result. */
interface Trace {
  decisionId: string;
  nowMs: number;
  engine: PolicyEngine;
  verified?: VerifiedToken;
}

export class Decider {
  private readonly now: () => number;

  constructor(private readonly deps: DeciderDeps) {
    this.now = deps.now ?? Date.now;
  }

  async check(input: CheckInput): Promise<DecisionResult> {
    const started = performance.now();
    const trace: Trace = { decisionId: randomUUID(), nowMs: this.now(), engine: this.deps.policies.current() };
    const audit = this.deps.audit;
    // A PDP that cannot audit refuses to decide (docs/audit.md); asking first keeps
    // obligations from being applied for a decision that would be turned into a deny.
    if (audit && !audit.ready()) return this.unaudited(trace, input);

    let result: DecisionResult;
    try {
      result = await this.decide(input, trace);
    } catch (error) {
      audit?.record(this.event(input, trace, started));
      throw error;
    }
    if (audit && !audit.record(this.event(input, trace, started, result))) return this.unaudited(trace, input, result);
    return result;
  }

  private event(input: CheckInput, trace: Trace, started: number, result?: DecisionResult): DecisionEvent {
    return {
      decisionId: trace.decisionId,
      startedAt: trace.nowMs,
      latencyMs: performance.now() - started,
      input,
      ...(result ? { result } : {}),
      ...(trace.verified ? { principal: trace.verified.principal, tokenHash: trace.verified.tokenHash } : {}),
      policy: { revision: trace.engine.revision, data: trace.engine.data },
    };
  }

  private unaudited(trace: Trace, input: CheckInput, wouldBe?: DecisionResult): DecisionResult {
    this.deps.log.error(
      { decisionId: trace.decisionId, caller: input.caller.name, requestId: input.requestId, wouldBe: wouldBe?.decision },
      "the audit trail cannot keep a record (buffer full, spill file unwritable); denying",
    );
    return {
      decisionId: trace.decisionId,
      policyRevision: trace.engine.revision,
      obligations: [],
      ...(wouldBe?.principal ? { principal: wouldBe.principal } : {}),
      decision: "DENY",
      reasons: [reason("audit_unavailable")],
    };
  }

  private async decide(input: CheckInput, trace: Trace): Promise<DecisionResult> {
    const { decisionId, nowMs, engine } = trace;
    const base = { decisionId, policyRevision: engine.revision, obligations: [] };

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
    trace.verified = verified;
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

    let decision: PolicyDecision;
    try {
      decision = await engine.decide(policyInput);
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      this.deps.log.error({ decisionId, policyRevision: engine.revision, err: error.message }, "policy error; denying");
      return { ...base, principal, decision: "DENY", reasons: [reason("policy_error")] };
    }

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
}
