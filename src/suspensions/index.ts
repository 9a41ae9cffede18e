export { suspensionsSchema, FOLLOW_MODES, type FollowMode, type SuspensionsConfig } from "./config.js";
export type { FollowerStats, FollowingBy } from "./follower.js";
export { SUSPENSIONS, SuspensionStoreError, type SuspensionRecord } from "./store.js";
export {
  ANNOUNCE_RETRY_MS,
  MAX_SUSPENSION_SECONDS,
  Suspensions,
  type EventRecorder,
  type ResumeRequest,
  type SuspendRequest,
  type SuspensionsOptions,
} from "./suspensions.js";
export { describeTarget, parseTarget, suspensionId, TargetError, targetFields } from "./target.js";
