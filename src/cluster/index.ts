// Verdict's processes: the primary that supervises, and what a worker tells it.
export { isClusterWorker, processCount, serveAsClusterWorker, startCluster, type ClusterOptions, type RunningCluster } from "./cluster.js";
