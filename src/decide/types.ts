import type { JsonObject } from "@verdict/sdk/wire";
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

/** One Check, validated and normalized at the edge. */
export interface CheckInput {
  caller: Caller;
  token: string;
  action: string;
  resource: { type: string; id: string; attributes: JsonObject };
  context: JsonObject;
  requestId: string;
  dryRun: boolean;
  /** The DPoP proof the client sent to the API, with the request's method and URL. */
  dpop?: { proof: string; method: string; url: string };
}

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

export interface DecisionResult {
  decisionId: string;
  decision: DecisionName;
  reasons: Reason[];
  challenge?: Challenge;
  principal?: Principal;
  obligations: AppliedObligation[];
  policyRevision: string;
}
