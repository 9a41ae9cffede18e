import type { JsonObject, Reason } from "@verdict/sdk/wire";
import type { AppliedObligation, ApprovalRequirement, CounterPort, DisagreementRecorder, OncePort, StateReader, SuspensionPort } from "../contract/index.js";
import type { ObligationRegistry } from "../obligations/index.js";
import type { Instruments, Logger, Metrics, TraceContext } from "../observability/index.js";
import type { AuthzenEntities, PolicyEngine, RuleHit } from "../policy/index.js";
import type { DpopOptions, Principal, ReplayGuard, TokenVerifier } from "../token/index.js";

/** The API that is asking, as authenticated by the server layer. */
export interface Caller {
  name: string;
  audience: string;
  /** The scopes this API declares (a token with another is refused or trimmed). */
  scopes: ReadonlySet<string>;
  unknownScopes: "deny" | "ignore";
  /** The privileged services this API may call (apis[].grants, e.g. "suspensions"); none when absent. */
  grants?: ReadonlySet<string>;
  /**
   * AuthZEN: this API may name a subject without a token, and the pipeline takes
   * its word for it (authzen.apis[].trust_asserted_subjects; docs/authzen.md).
   * Never set for gRPC callers.
   */
  trustsAssertedSubjects?: boolean;
}

/** What one decision is about. */
export interface CheckItem {
  action: string;
  resource: { type: string; id: string; attributes: JsonObject };
  context: JsonObject;
  /** Present only for AuthZEN evaluations: the request's entities as the policy sees them (docs/authzen.md). */
  authzen?: AuthzenEntities;
  /** The approval a retry names (Challenge.approval_id), checked against this request and used once. */
  approvalId?: string;
  /** At most how large `context` and `resource.attributes` are as JSON, when the edge measured them (the audit trail's memory bound uses it). */
  bytes?: number;
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
  /**
   * When the caller stops waiting (its call's deadline, ms since the epoch): a
   * decision that could not get to the database before then is refused in time
   * (overloaded) rather than applied for a caller that is gone.
   */
  answerBy?: number;
  /**
   * AuthZEN: the subject the PEP names. With a token, the token's `sub` must be this
   * id (subject_mismatch); without one, it is the principal only when the caller
   * trusts asserted subjects (token_missing otherwise).
   */
  subject?: string;
  /** The span of the call this Check came in on (its stages are traced under it), when tracing. */
  trace?: TraceContext;
}

/** One Check, validated and normalized at the edge. */
export type CheckInput = CheckCommon & CheckItem;

/** One CheckBatch: items that failed validation at the edge keep their error. */
export interface BatchInput extends CheckCommon {
  items: ({ ok: true; item: CheckItem } | { ok: false; error: string })[];
}

export type BatchItemResult = { ok: true; result: DecisionResult } | { ok: false; error: { code: "invalid_argument"; message: string } };

export type DecisionName = "ALLOW" | "DENY" | "STEP_UP";

export type ChallengeError =
  "invalid_token" | "invalid_dpop_proof" | "insufficient_scope" | "insufficient_user_authentication" | "approval_required" | "insufficient_authorization";

/** What the client must do to be allowed, in the wire's shape (challenges.ts builds them). */
export interface Challenge {
  error: ChallengeError;
  scopes: string[];
  acr_values: string[];
  max_age?: number;
  /** Safe to show to the client. */
  description: string;
  /** approval_required: the approval kept for the request (absent in a dry run), where to approve it, when it expires (epoch seconds). */
  approval_id?: string;
  approval_url?: string;
  expires_at?: number;
  /** RFC 9396 authorization details the client can (approval_required) or must (insufficient_authorization) obtain. */
  authorization_details?: JsonObject[];
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
  /** A DENY by a rate obligation: how long until the same request would fit its window if nothing else were counted meanwhile (ms, at least 1). */
  retryAfterMs?: number;
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
  /** Absent when the Check ended without a decision: an internal error, or Verdict was overloaded (`failure`). */
  result?: DecisionResult;
  /** Why there is no decision (default internal_error). */
  failure?: "internal_error" | "overloaded";
  /** The verified principal, when the token verified (also for internal errors after that). */
  principal?: Principal;
  /** Hex SHA-256 of the verified token; absent when it did not verify (the recorder hashes the raw string). */
  tokenHash?: string;
  policy: { revision: string; data: Readonly<Record<string, unknown>> };
}

/** The state a decision reads and writes, as ports (state/ implements them). */
export interface StatePorts {
  counters: CounterPort & StateReader;
  /** Single-use keys: once obligations, and the DPoP replay guard. */
  once: OncePort & ReplayGuard;
  /** Admits a decision (arrived at `arrivedAt`) to the database; its ticket is released when its state work is done. Rejects with OverloadedError. */
  admission: { admit(arrivedAt: number, answerBy?: number): Promise<() => void> };
}

/** Where decisions go after they are made (the audit trail). */
export interface DecisionRecorder {
  /** False when a record could not be kept anywhere right now: the pipeline refuses to decide. */
  ready(): boolean;
  /** Keeps the record (it is written later, off the request path); false when it could not be kept. */
  record(event: DecisionEvent): boolean;
}

export interface PolicySource {
  /** The engine that decides now, taken once per Check (or batch): a bundle swapped meanwhile still finishes what it started. */
  current(): PolicyEngine;
  /** A candidate engine evaluated beside the active one (shadow evaluation), if any. */
  shadow?(): PolicyEngine | undefined;
}

/** What the suspensions stage says about a principal that is suspended (or cannot be known not to be). */
export type SuspensionVerdict =
  /** Denied before its policy runs: principal_suspended, or state_unavailable while the view cannot be trusted. */
  | { outcome: "deny"; reason: Reason }
  /** Suspended, and the bundle lets its policy decide: the policy sees this as input.suspension. */
  | { outcome: "policy"; suspension: JsonObject };

/** The suspensions stage (src/suspensions): answers from memory, never with a database trip. */
export interface SuspensionGate {
  /** undefined: not suspended. `policyData` is the deciding bundle's data (whether its policy decides for suspended principals). */
  check(principal: Principal, nowMs: number, policyData: Readonly<Record<string, unknown>>): SuspensionVerdict | undefined;
}

/** One decision that needs a person's approval, as the approvals stage is handed it. */
export interface ApprovalRequest {
  requirement: ApprovalRequirement;
  check: CheckItem;
  principal: Principal;
  caller: Caller;
  decisionId: string;
  nowMs: number;
  dryRun: boolean;
}

/** What the approvals stage says: ask (a new or still pending approval), refuse, or go on (the approval named was used). */
export type ApprovalOutcome =
  | { kind: "challenge"; challenge: Challenge; reason?: Reason }
  | { kind: "deny"; reason: Reason }
  | { kind: "used"; approvalId: string; giveBack: () => Promise<void> };

/** The approvals stage (src/approvals): keeps approvals and uses them once. */
export interface ApprovalGate {
  settle(request: ApprovalRequest): Promise<ApprovalOutcome>;
  /**
   * Gives back the approval `decisionId` used when its caller is not answered with that allow (its batch's call
   * failed, or the audit trail refused its record): nothing when that decision did not use it.
   */
  giveBackUse?(approvalId: string, decisionId: string, api: string): Promise<void>;
}

export interface DeciderDeps {
  verifier: TokenVerifier;
  policies: PolicySource;
  state: StatePorts;
  dpop: DpopOptions;
  log: Logger;
  metrics?: Metrics;
  /** Stage timings, spans and decision counts (default: over `metrics`, no tracing). */
  instruments?: Instruments;
  /** The obligation types (default: reserve, rate, once); the same registry the policy engines read decisions with. */
  obligations?: ObligationRegistry;
  /** Where shadow disagreements are recorded; without it they are only counted. */
  shadowRecorder?: DisagreementRecorder;
  /** How long an answer may wait for a shadow evaluation still running (it goes on in the background). */
  shadowWaitMs?: number;
  /** Approvals kept by Verdict (docs/approvals.md); without it, a decision that needs one is denied (approval_unavailable). */
  approvals?: ApprovalGate;
  /** The audit trail; every decision (and every Check that ends in an internal error) is handed to it. */
  audit?: DecisionRecorder;
  /** Suspensions: the stage after the token, and the port the suspend obligation type uses; without it no one is suspended. */
  suspensions?: SuspensionGate & SuspensionPort;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}
