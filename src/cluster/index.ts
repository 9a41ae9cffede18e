// Verdict's processes: the primary that supervises, what a worker tells it, and how many
// of each run with which runtime settings.
export { startCluster, type ClusterAdmin, type ClusterOptions, type RunningCluster } from "./primary.js";
export { ADMIN_CONNECTIONS_CLOSED_METRIC, ADMIN_CONNECTIONS_REFUSED_METRIC, CONNECTIONS_REFUSED_METRIC, listenOn, refusedConnections } from "./listen.js";
export { type KeptBundles, type ReadinessReport, type ReadinessSource } from "./messages.js";
export {
  acceptConnections,
  answerPrimary,
  clusterRole,
  isClusterWorker,
  leavePrimary,
  primaryAdminUrl,
  primaryConfiguration,
  primaryGrpcPort,
  PRIMARY_ANSWER_WAIT_MS,
  reportAdminUrl,
  reportKeptBundle,
  reportServing,
  reportStopping,
  stopWhenPrimaryGone,
  type PrimaryChannel,
  type PrimaryRequests,
} from "./worker.js";
export {
  CONSOLE_NICENESS,
  FORKED_MALLOC_ARENAS,
  FORKED_SEMI_SPACE_FLAG,
  forkedProcessEnv,
  forkedProcessFlags,
  policyWorkersPerProcess,
  processCount,
  SERVING_HEAP_GROWTH_FLAG,
  servingRuntimeFlags,
  tuneServingProcess,
  yieldToDecisions,
} from "./tuning.js";
