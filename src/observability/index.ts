export { serveMetrics, type RunningMetricsServer } from "./http.js";
export { createLogger, silentLogger, type Logger } from "./log.js";
export { createMetrics, type BundleRole, type EvaluationFailure, type Metrics, type ReloadFailure, type ShadowOutcome } from "./metrics.js";
