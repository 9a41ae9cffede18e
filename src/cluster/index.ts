// Verdict's processes: the primary that supervises, and what a worker tells it.
export {
  clusterRole,
  isClusterWorker,
  processCount,
  serveAsClusterWorker,
  startCluster,
  type ClusterAdmin,
  type ClusterOptions,
  type ReadinessReport,
  type ReadinessSource,
  type RunningCluster,
} from "./cluster.js";
