import type { JsonObject } from "@verdict/sdk/wire";
import type { RuleHit } from "../policy/index.js";
import type { Reason } from "../reasons/index.js";
import type { AppliedObligation } from "../state/index.js";
import type { Principal } from "../token/index.js";

/** The API that is asking, as authenticated by the server layer. */
export interface Caller {
  name: string;
  audience: string;
}

/** One Check, validated and normalized at the edge. */
export interface CheckInput {
  caller: Caller;
  token: string;
  action: string;
  resource: { type: string; id: string; attributes: JsonObject };
  context: JsonObject;
  requestId: string;
  dryRun: boolean;
  /** Return which policy rules fired (`verdict check --explain`). */
  explain?: boolean;
}

export type DecisionName = "ALLOW" | "DENY" | "STEP_UP";

export type ChallengeError = "invalid_token" | "insufficient_scope" | "insufficient_user_authentication";

export interface Challenge {
  error: ChallengeError;
  scopes: string[];
  acrValues: string[];
  maxAge?: number;
  /** Safe to show to the client. */
  description: string;
}

/** What the shadow (candidate) bundle said for the same input; it never changes the answer. */
export interface ShadowResult {
  revision: string;
  /** The candidate policy's answer, before obligations (an evaluation error is DENY policy_error). */
  effect: DecisionName;
  reasons: Reason[];
  /** Whether it said the same as the active policy: effect, reason codes and obligations. */
  agrees: boolean;
}

export interface DecisionResult {
  decisionId: string;
  decision: DecisionName;
  reasons: Reason[];
  challenge?: Challenge;
  principal?: Principal;
  obligations: AppliedObligation[];
  /** The revision of the bundle that made the decision. */
  policyRevision: string;
  /** The rules that fired in the active policy (empty when it was not evaluated). */
  explain: RuleHit[];
  /** Present when a shadow bundle is loaded and its evaluation finished in time. */
  shadow?: ShadowResult;
}
