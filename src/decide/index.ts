export { Decider, type DeciderDeps, type PolicySource } from "./pipeline.js";
export type { Caller, Challenge, ChallengeError, CheckInput, DecisionName, DecisionResult, ShadowResult } from "./types.js";
