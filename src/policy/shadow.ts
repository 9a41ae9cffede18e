// Shadow evaluation's comparisons: what a bundle said (the policy's answer, before
// obligations) and where two answers differ. Pure: recording disagreements is
// decide/'s, through a DisagreementRecorder (state/ keeps them).
import { reason } from "@verdict/sdk/wire";
import type { Difference, FieldChange, PolicyVerdict } from "../contract/index.js";
import { defaultObligations, type ObligationRegistry } from "../obligations/index.js";
import { answerChanges, differencesOf } from "./compare.js";
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

/** Where two answers differ, field by field (compare.ts). */
export function verdictChanges(active: PolicyVerdict, shadow: PolicyVerdict): FieldChange[] {
  return answerChanges(active, shadow);
}

/** Which parts of two answers differ: the effect, the set of reason codes, or the obligations asked for. */
export function compareVerdicts(active: PolicyVerdict, shadow: PolicyVerdict): Difference[] {
  return differencesOf(verdictChanges(active, shadow));
}
