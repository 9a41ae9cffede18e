// Verdict's processes: the primary that supervises, and what a worker tells it.
export {
  clusterRole,
  isClusterWorker,
  policyWorkersPerProcess,
  primaryAdminUrl,
  processCount,
  serveAsClusterWorker,
  servingRuntimeFlags,
  SERVING_HEAP_GROWTH_FLAG,
  tuneServingProcess,
  startCluster,
  type ClusterAdmin,
  type ClusterOptions,
  type ReadinessReport,
  type ReadinessSource,
  type RunningCluster,
} from "./cluster.js";
