// What a primary and its processes say to each other over Node's IPC channel (and the
// environment the primary starts each process with): the contract primary.ts and
// worker.ts share.
import type { MetricObjectWithValues, MetricValue } from "prom-client";
import type { BundleRole } from "../observability/index.js";

/** Whether a process is ready, by named check (server/readiness.ts builds it; the primary gathers every process's). */
export interface ReadinessReport {
  ready: boolean;
  /** Each check by name: true when it passes. */
  checks: Record<string, boolean>;
}

/** What answers /readyz: a process's readiness, or the primary's over all of them. */
export interface ReadinessSource {
  report(): ReadinessReport;
  /** Called with the new state each time readiness changes (and once at once with the current one). */
  watch(listener: (ready: boolean) => void): () => void;
}

/**
 * Where the primary keeps copies of the bundles its processes loaded (a directory of its
 * own, opaque to it), and the ones loaded last from the active and the shadow bundle's
 * paths: what a process started while that path does not load serves (src/policy/copies.ts).
 */
export interface KeptBundles {
  dir: string;
  lastGood?: string;
  lastGoodShadow?: string;
}

export type ToPrimary =
  | { verdict: "ready"; address: string }
  // a copy of the active or shadow bundle it just loaded from that bundle's path, under KeptBundles' dir
  | { verdict: "bundle-kept"; path: string; role: BundleRole }
  | { verdict: "admin"; adminUrl: string }
  | { verdict: "admin-url?" }
  | { verdict: "configuration?" }
  | { verdict: "console"; adminUrl: string }
  | { verdict: "readiness"; report: ReadinessReport }
  | { verdict: "closed" }
  | { verdict: "stopping" }
  | { verdict: "pong" }
  | { verdict: "metrics"; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] };
export type ToWorker =
  | { verdict: "stop" }
  | { verdict: "metrics"; id: number }
  | { verdict: "admin-url"; url: string }
  // the primary's validated configuration (the same for every process; JSON, as every message)
  | { verdict: "configuration"; configuration: unknown; bundles?: KeptBundles }
  | { verdict: "all-serving" }
  | { verdict: "ping" }
  // with a socket: a gRPC connection the primary accepted
  | { verdict: "connection" };

/** Set by the primary in the environment of the process that serves the console. */
export const ROLE_VARIABLE = "VERDICT_PROCESS_ROLE" as const;
/** Set by the primary in the environment of a deciding process: the port it listens on for them. */
export const GRPC_PORT_VARIABLE = "VERDICT_PRIMARY_GRPC_PORT" as const;
