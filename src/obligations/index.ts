export { applyObligations, type EnforceContext, type ObligationOutcome } from "./apply.js";
export { defaultObligations, OBLIGATION_TYPES, ObligationRegistry } from "./registry.js";
export { releaseDecision, type ReleaseResult, type ReleaseStatus } from "./release.js";
export { once, type OnceRequest } from "./once.js";
export { rate, type RateRequest } from "./rate.js";
export { reserve, type ReserveRequest } from "./reserve.js";
export type { Applied, ApplyContext, ObligationType } from "./type.js";
