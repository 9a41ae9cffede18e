// @verdict/sdk: the thin client APIs embed to ask Verdict for decisions, the HTTP
// middleware (Express, Fastify) and the MCP guard built on it. The wire contract
// (the generated messages and services, the reason codes) is @verdict/sdk/wire.
export {
  createVerdictClient,
  API_KEY_METADATA,
  DEFAULT_DEADLINE_MS,
  DEFAULT_CONNECTIONS,
  MAX_CONNECTIONS,
  type BatchItem,
  type CallOptions,
  type CheckBatchRequest,
  type CheckRequest,
  type DpopProof,
  type ResourceRef,
  type TraceContext,
  type VerdictClient,
  type VerdictClientOptions,
  type VerdictTlsOptions,
} from "./client.js";
export type {
  Actor,
  Allow,
  ApprovalRequiredChallenge,
  BatchItemResult,
  Challenge,
  Decision,
  Deny,
  DenyChallenge,
  InsufficientAuthorizationChallenge,
  InsufficientScopeChallenge,
  InvalidDpopProofChallenge,
  InvalidTokenChallenge,
  Obligation,
  Principal,
  Reason,
  ReleaseResult,
  ReleaseStatus,
  StepUp,
  StepUpChallenge,
  StepUpDecisionChallenge,
} from "./decision.js";
export { toDecision } from "./decision.js";
export { VerdictError, isVerdictError, type VerdictErrorCode } from "./errors.js";
export * from "./http/index.js";
export * from "./mcp/index.js";
export {
  POLICY_LIBRARY_REASONS,
  reason,
  REASONS,
  VERDICT_REASONS,
  type PolicyLibraryReasonCode,
  type ReasonCode,
  type TokenReasonCode,
  type VerdictReasonCode,
} from "./reasons.js";
export type { JsonObject, JsonValue } from "./wire/index.js";
