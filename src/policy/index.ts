export { BundleError, loadBundle, type Bundle } from "./bundle.js";
export { buildBundle, bundleSources, ENTRYPOINTS, sourceRevision } from "./build.js";
export { DECISION_ENTRYPOINT, PolicyEngine, STATE_QUERIES_ENTRYPOINT } from "./engine.js";
export { policyPrincipal, type BatchInfo, type PolicyInput, type PolicyPrincipal } from "./input.js";
export {
  parseDecision,
  parseStateQueries,
  parseWindow,
  PolicyError,
  type Effect,
  type ObligationFailure,
  type ObligationRequest,
  type OnceRequest,
  type PolicyDecision,
  type RateRequest,
  type ReserveRequest,
  type StateQuery,
  type StepUp,
  type WindowSpec,
} from "./output.js";
