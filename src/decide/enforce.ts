// Turns the policy's decision into the answer: a deny (with a scope challenge when
// the policy names scopes), a step-up, or an allow whose obligations are applied
// through the registry, all or none.
import type { ObligationPorts, PrincipalIds } from "../contract/index.js";
import { applyBrakes, applyObligations, previewObligations, type ObligationOutcome, type ObligationRegistry, type PreviewTally } from "../obligations/index.js";
import type { Instruments, Logger } from "../observability/index.js";
import type { PolicyDecision } from "../policy/index.js";
import type { Principal } from "../token/index.js";
import { reason } from "@verdict/sdk/wire";
import { insufficientAuthorizationChallenge, insufficientScopeChallenge, stepUpChallenge } from "./challenges.js";
import { stateDenial, type Base } from "./denials.js";
import type { ApprovalGate, CheckCommon, CheckItem, DecisionResult } from "./types.js";

export interface EnforceDeps {
  obligations: ObligationRegistry;
  ports: ObligationPorts;
  log: Logger;
  instruments?: Instruments;
  approvals?: ApprovalGate;
}

export async function enforce(
  decision: PolicyDecision,
  base: Base,
  principal: Principal,
  common: CheckCommon,
  nowMs: number,
  deps: EnforceDeps,
  check: CheckItem,
  /** A dry run's tally: obligations are previewed (read, not written) against it. */
  preview?: PreviewTally,
): Promise<DecisionResult> {
  const answer = { ...base, principal, explain: decision.explain };
  const ids = principalIds(principal);
  // Brakes (suspend) apply to denials and step-ups too; they never change the decision. A step-up that a person's
  // approval answers applies them once it is settled: with its other obligations when the approval is used, else alone.
  const brakes = async (): Promise<void> => {
    if (common.dryRun || decision.obligations.length === 0) return;
    await applyBrakes(
      deps.obligations,
      deps.ports,
      decision.obligations,
      { nowMs, decisionId: base.decisionId, api: common.caller.name, principal: ids },
      (request, error) =>
        deps.log.error(
          { decisionId: base.decisionId, type: request.type, err: error instanceof Error ? error.message : String(error) },
          "could not apply a brake obligation",
        ),
    );
  };
  const approval = awaitsApproval(decision);
  if (decision.effect !== "allow" && !approval) await brakes();
  if (decision.effect === "deny") {
    const challenge =
      decision.requiredScopes.length > 0
        ? insufficientScopeChallenge(decision.requiredScopes)
        : decision.requiredAuthorizationDetails.length > 0
          ? insufficientAuthorizationChallenge(decision.requiredAuthorizationDetails)
          : undefined;
    return { ...answer, decision: "DENY", reasons: decision.reasons, ...(challenge ? { challenge } : {}) };
  }
  let giveBack: (() => Promise<void>) | undefined;
  if (approval && decision.approval) {
    // A person's approval of this very request: asked for, refused, or used (then the obligations apply as for an allow).
    if (!deps.approvals) {
      await brakes();
      return { ...answer, decision: "DENY", reasons: [reason("approval_unavailable", "Approvals are not available in this Verdict.")] };
    }
    try {
      const outcome = await deps.approvals.settle({
        requirement: decision.approval,
        check,
        principal,
        caller: common.caller,
        decisionId: base.decisionId,
        nowMs,
        dryRun: common.dryRun,
      });
      if (outcome.kind === "challenge") {
        await brakes();
        return { ...answer, decision: "STEP_UP", reasons: outcome.reason ? [outcome.reason] : decision.reasons, challenge: outcome.challenge };
      }
      if (outcome.kind === "deny") {
        await brakes();
        return { ...answer, decision: "DENY", reasons: [outcome.reason] };
      }
      giveBack = outcome.giveBack;
    } catch (error) {
      await brakes();
      return { ...stateDenial(error, base, principal, deps.log), explain: decision.explain };
    }
  } else if (decision.effect === "step_up") {
    return { ...answer, decision: "STEP_UP", reasons: decision.reasons, challenge: stepUpChallenge(decision.stepUp ?? { acrValues: [] }) };
  }
  const reasons = giveBack ? [] : decision.reasons;
  if (decision.obligations.length === 0) return { ...answer, decision: "ALLOW", reasons };
  const undoApproval = async () => {
    await giveBack?.().catch((error: unknown) =>
      deps.log.warn(
        { decisionId: base.decisionId, err: (error as Error).message },
        "could not give back an approval at once; it is tried again in the background",
      ),
    );
  };

  const { decisionId } = base;
  try {
    const outcome: ObligationOutcome = preview
      ? await previewObligations(deps.obligations, deps.ports, decision.obligations, { nowMs, tally: preview })
      : await applyObligations(deps.obligations, deps.ports, decision.obligations, {
          nowMs,
          decisionId,
          api: common.caller.name,
          principal: ids,
          onUndoFailure: (error) =>
            deps.log.warn(
              { decisionId, err: error instanceof Error ? error.message : String(error) },
              "could not give back an obligation at once; it is tried again in the background",
            ),
        });
    // a preview applied nothing: only real applications and refusals are counted
    if (!preview) deps.instruments?.obligations(outcome.ok ? "applied" : "refused", outcome.ok ? outcome.applied.map((o) => o.type) : [outcome.failed.type]);
    if (outcome.ok) return { ...answer, decision: "ALLOW", reasons, obligations: outcome.applied };
    await undoApproval();
    if (outcome.onFailure.effect === "step_up")
      return { ...answer, decision: "STEP_UP", reasons: [outcome.reason], challenge: stepUpChallenge(outcome.onFailure.stepUp) };
    const retry = outcome.retryAtMs !== undefined ? { retryAfterMs: Math.max(1, Math.ceil(outcome.retryAtMs - nowMs)) } : {};
    return { ...answer, decision: "DENY", reasons: [outcome.reason], ...retry };
  } catch (error) {
    await undoApproval();
    return { ...stateDenial(error, base, principal, deps.log), explain: decision.explain };
  }
}

/** A step-up that a person's approval answers (asked for, or used): it writes to the database as an allow with obligations does. */
export function awaitsApproval(decision: PolicyDecision): boolean {
  return decision.effect === "step_up" && decision.approval !== undefined && !decision.stepUp;
}

function principalIds(principal: Principal): PrincipalIds {
  return {
    issuer: principal.issuer,
    subject: principal.subject,
    client_id: principal.clientId,
    ...(principal.tokenId !== undefined ? { token_id: principal.tokenId } : {}),
    ...(principal.sessionId !== undefined ? { session_id: principal.sessionId } : {}),
  };
}
