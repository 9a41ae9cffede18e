import type { JsonObject } from "@verdict/sdk/wire";
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

export interface DecisionResult {
  decisionId: string;
  decision: DecisionName;
  reasons: Reason[];
  challenge?: Challenge;
  principal?: Principal;
  obligations: AppliedObligation[];
  policyRevision: string;
}

/**
 * What the audit trail is handed for every Check that reached the pipeline: a
 * decision, or an internal error that left the caller with gRPC INTERNAL.
 */
export interface DecisionEvent {
  decisionId: string;
  /** When the Check started, milliseconds since the epoch. */
  startedAt: number;
  latencyMs: number;
  input: CheckInput;
  /** Absent when the Check ended in an internal error (no decision was made). */
  result?: DecisionResult;
  /** The verified principal, when the token verified (also for internal errors after that). */
  principal?: Principal;
  /** Hex SHA-256 of the verified token; absent when it did not verify (the recorder hashes the raw string). */
  tokenHash?: string;
  policy: { revision: string; data: Readonly<Record<string, unknown>> };
}

/** Where decisions go after they are made (the audit trail). */
export interface DecisionRecorder {
  /** False when a record could not be kept anywhere right now: the pipeline refuses to decide. */
  ready(): boolean;
  /** Keeps the record (it is written later, off the request path); false when it could not be kept. */
  record(event: DecisionEvent): boolean;
}
