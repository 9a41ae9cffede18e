export { BundleError, loadBundle, type Bundle } from "./bundle.js";
export { buildBundle, bundleSources, ENTRYPOINTS, sourceRevision, TEST_FILE_PATTERNS } from "./build.js";
export { DECISION_ENTRYPOINT, PolicyEngine, type EngineOptions } from "./engine.js";
export { DEFAULT_BOUNDS, EvaluationError, type EvaluationBounds, type PolicyFailureKind } from "./pool.js";
export { policyPrincipal, type PolicyInput, type PolicyPrincipal } from "./input.js";
export {
  parseDecision,
  parseWindow,
  PolicyError,
  type Effect,
  type ObligationRequest,
  type PolicyDecision,
  type ReserveRequest,
  type RuleHit,
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
