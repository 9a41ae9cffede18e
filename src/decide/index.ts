export { ASSERTED_ISSUER } from "./asserted.js";
export { Decider, type DeciderDeps, type PolicySource } from "./pipeline.js";
export type {
  BatchInput,
  BatchItemResult,
  Caller,
  Challenge,
  ChallengeError,
  CheckCommon,
  CheckInput,
  CheckItem,
  DecisionEvent,
  DecisionName,
  DecisionRecorder,
  DecisionResult,
  ShadowResult,
} from "./types.js";
