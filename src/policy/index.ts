export { BundleError, loadBundle, type Bundle } from "./bundle.js";
export { buildBundle, bundleSources, ENTRYPOINTS, sourceRevision, TEST_FILE_PATTERNS } from "./build.js";
export { DECISION_ENTRYPOINT, PolicyEngine, STATE_QUERIES_ENTRYPOINT, type EngineOptions } from "./engine.js";
export { DEFAULT_BOUNDS, EvaluationError, type EvaluationBounds, type PolicyFailureKind } from "./pool.js";
export { policyPrincipal, type AuthzenEntities, type AuthzenEntity, type BatchInfo, type PolicyInput, type PolicyPrincipal } from "./input.js";
export {
  describeObligation,
  parseDecision,
  parseStateQueries,
  parseWindow,
  PolicyError,
  windowLabel,
  type Effect,
  type ObligationFailure,
  type ObligationRequest,
  type OnceRequest,
  type PolicyDecision,
  type RateRequest,
  type ReserveRequest,
  type RuleHit,
  type StateQuery,
  type StepUp,
  type WindowSpec,
} from "./output.js";
export { PolicyRuntime, type PolicyRuntimeOptions, type ReloadOutcome } from "./runtime.js";
export {
  compareVerdicts,
  failedVerdict,
  listDisagreements,
  policyVerdict,
  SHADOW_COLLECTION,
  ShadowRecorder,
  type Difference,
  type Disagreement,
  type ListOptions,
  type PolicyVerdict,
  type ShadowRecorderOptions,
} from "./shadow.js";
export { bundleFingerprint, watchBundle, type BundleWatcher, type WatchOptions } from "./watch.js";
