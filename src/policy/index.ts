export { BundleError, loadBundle, type Bundle } from "./bundle.js";
export { buildBundle, bundleSources, ENTRYPOINTS, sourceRevision } from "./build.js";
export { DECISION_ENTRYPOINT, PolicyEngine } from "./engine.js";
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
