// Turns the policy's decision into the answer: a deny (with a scope challenge when
// the policy names scopes), a step-up, or an allow whose obligations are applied
// through the registry, all or none.
import type { ObligationPorts } from "../contract/index.js";
import { applyObligations, previewObligations, type ObligationOutcome, type ObligationRegistry, type PreviewTally } from "../obligations/index.js";
import type { Instruments, Logger } from "../observability/index.js";
import type { PolicyDecision } from "../policy/index.js";
import type { Principal } from "../token/index.js";
import { insufficientScopeChallenge, stepUpChallenge } from "./challenges.js";
import { stateDenial, type Base } from "./denials.js";
import type { CheckCommon, DecisionResult } from "./types.js";

export interface EnforceDeps {
  obligations: ObligationRegistry;
  ports: ObligationPorts;
  log: Logger;
  instruments?: Instruments;
}

export async function enforce(
  decision: PolicyDecision,
  base: Base,
  principal: Principal,
  common: CheckCommon,
  nowMs: number,
  deps: EnforceDeps,
  /** A dry run's tally: obligations are previewed (read, not written) against it. */
  preview?: PreviewTally,
): Promise<DecisionResult> {
  const answer = { ...base, principal, explain: decision.explain };
  if (decision.effect === "deny") {
    return {
      ...answer,
      decision: "DENY",
      reasons: decision.reasons,
      ...(decision.requiredScopes.length > 0 ? { challenge: insufficientScopeChallenge(decision.requiredScopes) } : {}),
    };
  }
  if (decision.effect === "step_up") {
    return { ...answer, decision: "STEP_UP", reasons: decision.reasons, challenge: stepUpChallenge(decision.stepUp ?? { acrValues: [] }) };
  }
  if (decision.obligations.length === 0) return { ...answer, decision: "ALLOW", reasons: decision.reasons };

  const { decisionId } = base;
  try {
    const outcome: ObligationOutcome = preview
      ? await previewObligations(deps.obligations, deps.ports, decision.obligations, { nowMs, tally: preview })
      : await applyObligations(deps.obligations, deps.ports, decision.obligations, {
          nowMs,
          decisionId,
          api: common.caller.name,
          onUndoFailure: (error) =>
            deps.log.error(
              { decisionId, err: error instanceof Error ? error.message : String(error) },
              "could not give back an obligation; it stays held until its window ends",
            ),
        });
    // a preview applied nothing: only real applications and refusals are counted
    if (!preview) deps.instruments?.obligations(outcome.ok ? "applied" : "refused", outcome.ok ? outcome.applied.map((o) => o.type) : [outcome.failed.type]);
    if (outcome.ok) return { ...answer, decision: "ALLOW", reasons: decision.reasons, obligations: outcome.applied };
    if (outcome.onFailure.effect === "step_up")
      return { ...answer, decision: "STEP_UP", reasons: [outcome.reason], challenge: stepUpChallenge(outcome.onFailure.stepUp) };
    return { ...answer, decision: "DENY", reasons: [outcome.reason] };
  } catch (error) {
    return { ...stateDenial(error, base, principal, deps.log), explain: decision.explain };
  }
}
