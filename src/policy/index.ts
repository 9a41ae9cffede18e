export { BundleError, loadBundle, MAX_BUNDLE_BYTES, type Bundle } from "./bundle.js";
export { buildBundle, bundleSources, ENTRYPOINTS, sourceRevision, TEST_FILE_PATTERNS } from "./build.js";
export { DECISION_ENTRYPOINT, PolicyEngine, STATE_QUERIES_ENTRYPOINT, type Begun, type EngineOptions } from "./engine.js";
export { DEFAULT_BOUNDS, EvaluationError, EvaluationOverloadedError, type EvaluationAdmission, type EvaluationBounds, type PolicyFailureKind } from "./pool.js";
export { readAnswers, waitForAnswers, writeBatch, type TaskReply } from "./handoff.js";
export { CONTROL, DIRECT_STATE, TASK_WORDS } from "./worker-source.js";
export { policyInputs, policyPrincipal, type AuthzenEntities, type AuthzenEntity, type BatchInfo, type PolicyInput, type PolicyPrincipal } from "./input.js";
export {
  parseDecision,
  parseStateQueries,
  parseWindow,
  PolicyError,
  type Effect,
  type ObligationRequest,
  type PolicyDecision,
  type RuleHit,
} from "./output.js";
export { PolicyRuntime, type PolicyRuntimeOptions, type ReloadOutcome } from "./runtime.js";
export { keepCopy, type BundleCopies } from "./copies.js";
export { compareVerdicts, failedVerdict, policyVerdict, verdictChanges } from "./shadow.js";
export { answerChanges, differencesOf, obligationLabel, type ComparableAnswer } from "./compare.js";
export { bundleFingerprint, watchBundle, type BundleWatcher, type WatchOptions } from "./watch.js";
export { testPolicy, REGAL_CONFIG, REGAL_RULES, type PolicyTestOptions, type PolicyTestResult, type StepResult } from "./check.js";
export { buildTested, PolicyTestFailed, type GatedBuildOptions } from "./gated.js";
export { caseInput, compareCase, decisionView, loadCaseTable, objectUnion, runCases, type CaseTable, type DecisionCase } from "./cases.js";
export { documentedCodes, policyReasonCodes } from "./reasons-doc.js";
export { jsonTree, loadSchemas, parseJsonFile, SCHEMA_DIR, validateAgainst, type PolicySchemas, type SchemaNode } from "./schema.js";
export { decideAsServer, unanswered, type ServerLikeDecision, type StateAnswerer } from "./evaluate.js";
export {
  rebuildInput,
  Replay,
  REPLAY_LIMITS,
  type Answer as ReplayAnswer,
  type CounterReader,
  type RecordedDecision,
  type ReplayExample,
  type ReplayOptions,
  type ReplayOutcome,
  type ReplaySummary,
} from "./replay.js";
