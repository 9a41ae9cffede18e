// The path of one Check: token -> (state) -> policy -> enforce. Each stage is a
// module of its own; this file only puts them in order and turns each stage's
// failure into a decision that fails closed.
import { randomUUID } from "node:crypto";
import type { Logger } from "../observability/index.js";
import { policyPrincipal, PolicyError, type PolicyDecision, type PolicyEngine, type PolicyInput } from "../policy/index.js";
import { reason } from "../reasons/index.js";
import { applyObligations, consumeOnce, isConsumed, readState, releaseDecision, StateUnavailableError, type ReleasedObligation, type ReleaseStatus, type StateStore } from "../state/index.js";
import { sha256Hex, TokenError, verifyDpopProof, type DpopOptions, type TokenVerifier, type VerifiedToken } from "../token/index.js";
import type { Caller, CheckInput, DecisionResult } from "./types.js";

export interface PolicySource {
  current(): PolicyEngine;
}

export interface DeciderDeps {
  verifier: TokenVerifier;
  policies: PolicySource;
  state: StateStore;
  dpop: DpopOptions;
  log: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

export class Decider {
  private readonly now: () => number;

  constructor(private readonly deps: DeciderDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Undoes the obligations of an earlier decision of this caller whose action did
   * not happen. Idempotent. Throws StateUnavailableError when the database is down.
   */
  async release(decisionId: string, caller: Caller): Promise<{ status: ReleaseStatus; released: ReleasedObligation[] }> {
    return releaseDecision(this.deps.state, decisionId, caller.name, new Date(this.now()));
  }

  /**
   * The token, verified for the calling API; for a sender-constrained token
   * (cnf.jkt), also the DPoP proof of possession, used at most once.
   */
  private async authenticate(input: CheckInput, nowMs: number, decisionId: string): Promise<VerifiedToken> {
    const now = nowMs / 1000;
    const verified = await this.deps.verifier.verify(input.token, {
      audience: input.caller.audience,
      knownScopes: input.caller.scopes,
      unknownScopes: input.caller.unknownScopes,
      now,
    });
    const jkt = verified.principal.confirmationJkt;
    if (jkt !== undefined) {
      const proof = await verifyDpopProof(input.dpop, input.token, jkt, now, this.deps.dpop);
      const id = `dpop/${proof.jkt}/${sha256Hex(proof.jti)}`;
      // A dry run writes nothing: it sees a replay, but does not use the proof up.
      const first = input.dryRun
        ? !(await isConsumed(this.deps.state, id, new Date(nowMs)))
        : await consumeOnce(this.deps.state, id, new Date(proof.rememberUntil * 1000), new Date(nowMs), decisionId);
      if (!first) throw new TokenError("dpop_replayed");
    }
    return verified;
  }

  async check(input: CheckInput): Promise<DecisionResult> {
    const decisionId = randomUUID();
    const nowMs = this.now();
    const engine = this.deps.policies.current();
    const base = { decisionId, policyRevision: engine.revision, obligations: [] };

    let verified: VerifiedToken;
    try {
      verified = await this.authenticate(input, nowMs, decisionId);
    } catch (error) {
      if (error instanceof StateUnavailableError) {
        this.deps.log.warn({ decisionId, err: error.message }, "state unavailable for the DPoP replay check; denying");
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
      // The state the policy declares it needs, in one round trip (none: no call).
      const queries = await engine.stateQueries(policyInput);
      policyInput.state = await readState(this.deps.state, queries, nowMs);
      decision = await engine.decide(policyInput);
    } catch (error) {
      if (error instanceof StateUnavailableError) {
        this.deps.log.warn({ decisionId, err: error.message }, "state unavailable; denying");
        return { ...base, principal, decision: "DENY", reasons: [reason("state_unavailable")] };
      }
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
      const outcome = await applyObligations(this.deps.state, decision.obligations, {
        nowMs,
        decisionId,
        api: input.caller.name,
        onUndoFailure: (error) =>
          this.deps.log.error({ decisionId, err: (error as Error).message }, "could not give back an obligation; it stays held until its window ends"),
      });
      if (!outcome.ok) {
        if (outcome.onFailure.effect === "step_up") {
          const stepUp = outcome.onFailure.stepUp;
          return {
            ...base,
            principal,
            decision: "STEP_UP",
            reasons: [outcome.reason],
            challenge: {
              error: "insufficient_user_authentication",
              scopes: [],
              acrValues: stepUp.acrValues,
              ...(stepUp.maxAge !== undefined ? { maxAge: stepUp.maxAge } : {}),
              description: "A stronger or more recent authentication of the user is required.",
            },
          };
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
