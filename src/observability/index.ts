export { type LogLevel, type TracingConfig } from "./config.js";
export { Instruments } from "./instruments.js";
export { CountedWarning, createLogger, silentLogger, urlForLog, type Logger } from "./log.js";
export {
  createMetrics,
  observeAudit,
  observeCountsBy,
  observeHealth,
  observeSuspensions,
  type AuditCounts,
  type BundleRole,
  type EvaluationFailure,
  type JwksOutcome,
  type Metrics,
  type MetricsOptions,
  type ObligationOutcome,
  type ReloadFailure,
  type ShadowOutcome,
  type Stage,
  type SuspensionCounts,
} from "./metrics.js";
export { ServerSpan, Tracing, type TraceContext, type TracingOptions } from "./tracing.js";
