// Every stage's failure becomes a decision that fails closed, here: a token that
// does not verify, a policy that fails, state that does not answer, an audit trail
// that cannot keep the record. Anything else is not a denial: it is rethrown and
// the call ends in INTERNAL (no decision).
import { reason } from "@verdict/sdk/wire";
import type { Logger, Metrics } from "../observability/index.js";
import { EvaluationError, PolicyError } from "../policy/index.js";
import { StateUnavailableError } from "../state/index.js";
import { TokenError, type Principal } from "../token/index.js";
import { invalidTokenChallenge } from "./challenges.js";
import type { CheckCommon, DecisionResult } from "./types.js";

/** What every result of a decision starts from: its id, the revision deciding, nothing applied or explained. */
export type Base = Pick<DecisionResult, "decisionId" | "policyRevision" | "obligations" | "explain">;

export function tokenDenial(error: unknown, base: Base, log: Logger): DecisionResult {
  if (error instanceof StateUnavailableError) {
    logUnavailable(log, error, base, "state unavailable for the DPoP replay check; denying");
    return { ...base, decision: "DENY", reasons: [reason("state_unavailable")] };
  }
  if (!(error instanceof TokenError)) throw error;
  // The issuer could not be asked (its keys, its introspection endpoint): the token is not known to be bad, so no
  // invalid_token challenge, which would have the client throw it away and sign in again; the same request may pass later.
  if (error.reason === "issuer_unavailable") return { ...base, decision: "DENY", reasons: [reason(error.reason, error.message)] };
  const dpop = error.reason === "dpop_invalid" || error.reason === "dpop_replayed";
  return { ...base, decision: "DENY", reasons: [reason(error.reason, error.message)], challenge: invalidTokenChallenge(dpop, error.message) };
}

export function policyDenial(error: unknown, base: Base, principal: Principal, { metrics, log }: { metrics: Metrics; log: Logger }): DecisionResult {
  if (!(error instanceof PolicyError)) throw error;
  const failure = error instanceof EvaluationError ? error.kind : "invalid_output";
  metrics.policyEvaluationFailures.inc({ bundle: "active", reason: failure });
  log.error(
    { decisionId: base.decisionId, policyRevision: base.policyRevision, reason: failure, rule: error.rule, err: error.message },
    "policy error; denying",
  );
  // which rule's output did not fit and why, or where evaluation stopped: for --explain and the audit record (not the API's reason)
  const hit = { kind: "policy_error" as const, rule: error.rule ?? error.entrypoint ?? "verdict/decision", code: failure, message: error.message };
  return { ...base, principal, decision: "DENY", reasons: [reason("policy_error")], explain: [hit] };
}

/** For a StateUnavailableError; anything else is rethrown. */
export function stateDenial(error: unknown, base: Base, principal: Principal, log: Logger): DecisionResult {
  if (!(error instanceof StateUnavailableError)) throw error;
  logUnavailable(log, error, base, "state unavailable; denying");
  return { ...base, principal, decision: "DENY", reasons: [reason("state_unavailable")] };
}

/** A refusal at once while the database is known silent is said once, by the state calls, not at each denial it causes. */
function logUnavailable(log: Logger, error: StateUnavailableError, base: Base, message: string): void {
  log[error.atOnce ? "debug" : "warn"]({ decisionId: base.decisionId, err: error.message }, message);
}

export function unaudited(base: Base, common: CheckCommon, log: Logger, wouldBe?: DecisionResult): DecisionResult {
  log.error(
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
