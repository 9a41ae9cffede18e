export { Decider, type DeciderDeps, type PolicySource } from "./pipeline.js";
export type { Caller, Challenge, ChallengeError, CheckInput, DecisionEvent, DecisionName, DecisionRecorder, DecisionResult } from "./types.js";
