export { ASSERTED_ISSUER } from "./authenticate.js";
export { approvalChallenge } from "./challenges.js";
export { Decider } from "./pipeline.js";
export type {
  ApprovalGate,
  ApprovalOutcome,
  ApprovalRequest,
  BatchInput,
  BatchItemResult,
  Caller,
  Challenge,
  ChallengeError,
  CheckCommon,
  CheckInput,
  CheckItem,
  DeciderDeps,
  DecisionEvent,
  DecisionName,
  DecisionRecorder,
  DecisionResult,
  PolicySource,
  ShadowResult,
  StatePorts,
  SuspensionGate,
  SuspensionVerdict,
} from "./types.js";
