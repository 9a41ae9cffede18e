// Shadow evaluation's comparisons: what a bundle said (the policy's answer, before
// obligations) and where two answers differ. Pure: recording disagreements is
// decide/'s, through a DisagreementRecorder (state/ keeps them).
import { reason } from "@verdict/sdk/wire";
import type { Difference, PolicyVerdict } from "../contract/index.js";
import { defaultObligations, type ObligationRegistry } from "../obligations/index.js";
import type { PolicyDecision } from "./output.js";

export function policyVerdict(revision: string, decision: PolicyDecision, registry: ObligationRegistry = defaultObligations): PolicyVerdict {
  return {
    revision,
    effect: decision.effect,
    reasons: decision.reasons,
    obligations: decision.obligations.map((o) => registry.summary(o)),
  };
}

export function failedVerdict(revision: string, error: string): PolicyVerdict {
  return { revision, effect: "deny", reasons: [reason("policy_error")], obligations: [], error };
}

/** Where two answers differ: the effect, the set of reason codes, or the obligations asked for. */
export function compareVerdicts(active: PolicyVerdict, shadow: PolicyVerdict): Difference[] {
  const differences: Difference[] = [];
  if (active.effect !== shadow.effect) differences.push("effect");
  const codes = (v: PolicyVerdict) => JSON.stringify(v.reasons.map((r) => r.code).sort());
  if (codes(active) !== codes(shadow)) differences.push("reasons");
  const obligations = (v: PolicyVerdict) => JSON.stringify(v.obligations.map((o) => JSON.stringify(o)).sort());
  if (obligations(active) !== obligations(shadow)) differences.push("obligations");
  return differences;
}
