export { Decider, type DeciderDeps, type PolicySource } from "./pipeline.js";
export type { BatchInput, BatchItemResult, Caller, Challenge, ChallengeError, CheckCommon, CheckInput, CheckItem, DecisionName, DecisionResult, ShadowResult } from "./types.js";
