import type { JsonObject } from "@verdict/sdk/wire";
import type { RuleHit } from "../policy/index.js";
import type { Reason } from "../reasons/index.js";
import type { AppliedObligation } from "../state/index.js";
import type { Principal } from "../token/index.js";

/** The API that is asking, as authenticated by the server layer. */
export interface Caller {
  name: string;
  audience: string;
  /** The scopes this API declares (a token with another is refused or trimmed). */
  scopes: ReadonlySet<string>;
  unknownScopes: "deny" | "ignore";
}

/** What one decision is about. */
export interface CheckItem {
  action: string;
  resource: { type: string; id: string; attributes: JsonObject };
  context: JsonObject;
}

/** Who asks, with which token: shared by every item of a batch. */
export interface CheckCommon {
  caller: Caller;
  token: string;
  requestId: string;
  dryRun: boolean;
  /** The DPoP proof the client sent to the API, with the request's method and URL. */
  dpop?: { proof: string; method: string; url: string };
  /** Return which policy rules fired (`verdict check --explain`). */
  explain?: boolean;
}

/** One Check, validated and normalized at the edge. */
export type CheckInput = CheckCommon & CheckItem;

/** One CheckBatch: items that failed validation at the edge keep their error. */
export interface BatchInput extends CheckCommon {
  items: ({ ok: true; item: CheckItem } | { ok: false; error: string })[];
}

export type BatchItemResult = { ok: true; result: DecisionResult } | { ok: false; error: { code: "invalid_argument"; message: string } };

export type DecisionName = "ALLOW" | "DENY" | "STEP_UP";

export type ChallengeError = "invalid_token" | "invalid_dpop_proof" | "insufficient_scope" | "insufficient_user_authentication";

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
