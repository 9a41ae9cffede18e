// The path of a decision: token -> state -> policy -> enforce. Each stage is a
// module of its own; this file only puts them in order and turns each stage's
// failure into a decision that fails closed. A Check is a batch of one: a
// CheckBatch verifies its token once, reads all its items' state in one round
// trip, and then decides each item on its own.
import { randomUUID } from "node:crypto";
import type { Logger } from "../observability/index.js";
import { policyPrincipal, PolicyError, type PolicyDecision, type PolicyEngine, type PolicyInput, type StateQuery } from "../policy/index.js";
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
import type { BatchInput, BatchItemResult, Caller, CheckCommon, CheckInput, CheckItem, DecisionResult } from "./types.js";

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

type Base = Pick<DecisionResult, "decisionId" | "policyRevision" | "obligations">;

/** A decision that is settled before the policy runs, or the input the policy will see. */
type Pending = { settled: DecisionResult } | { input: PolicyInput; queries: StateQuery[]; base: Base };

export class Decider {
  private readonly now: () => number;

  constructor(private readonly deps: DeciderDeps) {
    this.now = deps.now ?? Date.now;
  }

  async check(input: CheckInput): Promise<DecisionResult> {
    const { action, resource, context, ...common } = input;
    const [result] = await this.decide(common, [{ action, resource, context }], false);
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

  private async decide(common: CheckCommon, items: CheckItem[], batch: boolean): Promise<DecisionResult[]> {
    const nowMs = this.now();
    const engine = this.deps.policies.current();
    const bases: Base[] = items.map(() => ({ decisionId: randomUUID(), policyRevision: engine.revision, obligations: [] }));

    // 1. The token, once for all items.
    let verified: VerifiedToken;
    try {
      verified = await this.authenticate(common, nowMs, (bases[0] as Base).decisionId);
    } catch (error) {
      const denial = this.tokenDenial(error, bases[0] as Base);
      return bases.map((base) => ({ ...denial, ...base }));
    }
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
          return { input, queries: await engine.stateQueries(input), base };
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
      let decision: PolicyDecision;
      try {
        decision = await engine.decide(p.input);
      } catch (error) {
        results.push(this.policyDenial(error, p.base, principal, engine));
        continue;
      }
      results.push(await this.enforce(p.base, principal, decision, common, nowMs));
    }
    return results;
  }

  /**
   * The token, verified for the calling API; for a sender-constrained token
   * (cnf.jkt), also the DPoP proof of possession, used at most once.
   */
  private async authenticate(common: CheckCommon, nowMs: number, decisionId: string): Promise<VerifiedToken> {
    const now = nowMs / 1000;
    const verified = await this.deps.verifier.verify(common.token, {
      audience: common.caller.audience,
      knownScopes: common.caller.scopes,
      unknownScopes: common.caller.unknownScopes,
      now,
    });
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
    this.deps.log.error({ decisionId: base.decisionId, policyRevision: engine.revision, err: error.message }, "policy error; denying");
    return { ...base, principal, decision: "DENY", reasons: [reason("policy_error")] };
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

function stepUpChallenge(stepUp: { acrValues: string[]; maxAge?: number }): DecisionResult["challenge"] {
  return {
    error: "insufficient_user_authentication",
    scopes: [],
    acrValues: stepUp.acrValues,
    ...(stepUp.maxAge !== undefined ? { maxAge: stepUp.maxAge } : {}),
    description: "A stronger or more recent authentication of the user is required.",
  };
}
