// Verdict on every core: `processes` (default one per CPU) worker processes all
// serving the same ports — Node's cluster: the primary accepts each connection and
// hands them out in turn — each a whole Verdict with its own event loop, policy
// workers, token cache, connection pool and audit writer. Verification, evaluation
// and gRPC of one process no longer queue behind another's. Real-time state and the
// audit trail are in the shared database, where every limit already holds across
// any number of processes; each process reloads the bundle when its file changes.
//
// The primary only supervises: it starts the workers and says "verdict is serving"
// once every one of them is, serves the metrics of all of them (metrics_listen),
// replaces a worker that dies, and on SIGTERM asks each to stop (each finishes the
// calls it has and writes or spills every audit record) before it exits.
import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import type { MetricObjectWithValues, MetricValue, Registry } from "prom-client";
import { VerdictError } from "../errors/index.js";
import { serveMetrics, type Logger, type RunningMetricsServer } from "../observability/index.js";

/** Processes of "auto": one per CPU, at most this many (each keeps its own database connections). */
const MAX_AUTO_PROCESSES = 8;
/** A worker that does not stop within this after being asked is killed. */
const STOP_GRACE_MS = 60_000;
/** Workers that die more often than this within RESTART_WINDOW_MS stop the whole server. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** How long a scrape waits for the workers' metrics. */
const METRICS_WAIT_MS = 2_000;

type ToPrimary = { verdict: "ready"; address: string } | { verdict: "metrics"; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] };
type ToWorker = { verdict: "stop" } | { verdict: "metrics"; id: number };

/** How many processes `processes` means on this machine. */
export function processCount(processes: number | "auto"): number {
  return processes === "auto" ? Math.max(1, Math.min(MAX_AUTO_PROCESSES, availableParallelism())) : processes;
}

/** True in a worker process started by the primary. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

export interface ClusterOptions {
  processes: number;
  log: Logger;
  /** Environment the workers get beside the primary's (e.g. the database the primary started). */
  env: Record<string, string>;
  metricsListen?: { host: string; port: number } | undefined;
}

export interface RunningCluster {
  /** host:port the workers serve gRPC on. */
  address: string;
  metricsPort: number | undefined;
  /** Resolves when the server stopped by itself (workers dying too often). */
  failed: Promise<VerdictError>;
  /** Asks every worker to stop, waits for them, then closes the metrics listener. */
  stop(): Promise<void>;
}

/** Starts the workers; resolves once every one is serving, or rejects when one could not start. */
export async function startCluster({ processes, log, env, metricsListen }: ClusterOptions): Promise<RunningCluster> {
  const workers = new Set<Worker>();
  let stopping = false;
  let address: string | undefined;
  const restarts: number[] = [];
  let fail: (error: VerdictError) => void = () => {};
  const failed = new Promise<VerdictError>((resolve) => (fail = resolve));

  const fork = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork(env);
      workers.add(worker);
      let ready = false;
      worker.on("message", (message: ToPrimary) => {
        if (message.verdict === "ready" && !ready) {
          ready = true;
          resolve(message.address);
        }
      });
      worker.on("exit", (code, signal) => {
        workers.delete(worker);
        if (!ready) {
          reject(new VerdictError("listen_failed", `a Verdict process did not start (exit ${code ?? signal}); its log above says why`));
          return;
        }
        if (stopping) return;
        log.error({ pid: worker.process.pid, code, signal }, "a Verdict process stopped unexpectedly; starting another");
        const now = Date.now();
        restarts.push(now);
        while (restarts.length > 0 && (restarts[0] as number) < now - RESTART_WINDOW_MS) restarts.shift();
        if (restarts.length > MAX_RESTARTS) {
          fail(new VerdictError("internal", `Verdict processes stopped ${restarts.length} times within a minute; stopping`));
          return;
        }
        fork().catch((error: unknown) => fail(error instanceof VerdictError ? error : new VerdictError("internal", String(error))));
      });
    });

  const stopWorkers = async () => {
    stopping = true;
    await Promise.all(
      [...workers].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const kill = setTimeout(() => worker.process.kill("SIGKILL"), STOP_GRACE_MS);
            worker.once("exit", () => {
              clearTimeout(kill);
              resolve();
            });
            send(worker, { verdict: "stop" });
          }),
      ),
    );
  };

  try {
    const addresses = await Promise.all(Array.from({ length: processes }, fork));
    address = addresses[0];
  } catch (error) {
    await stopWorkers();
    throw error;
  }

  let metricsServer: RunningMetricsServer | undefined;
  if (metricsListen) {
    try {
      metricsServer = await serveMetrics(() => clusterMetrics(workers), metricsListen.host, metricsListen.port);
    } catch (error) {
      await stopWorkers();
      throw error;
    }
  }
  log.debug({ processes }, "every Verdict process is serving");
  return {
    address: address ?? "",
    metricsPort: metricsServer?.port,
    failed,
    async stop() {
      await stopWorkers();
      await metricsServer?.close();
    },
  };
}

function send(worker: Worker, message: ToWorker): void {
  if (worker.isConnected()) worker.send(message);
}

let nextRequest = 1;

/** Every worker's metrics, summed (counters) or kept per worker where prom-client aggregates so. */
async function clusterMetrics(workers: ReadonlySet<Worker>): Promise<Registry> {
  const id = nextRequest++;
  const replies = await Promise.all(
    [...workers].map(
      (worker) =>
        new Promise<MetricObjectWithValues<MetricValue<string>>[] | undefined>((resolve) => {
          const timer = setTimeout(() => done(undefined), METRICS_WAIT_MS);
          const onMessage = (message: ToPrimary) => {
            if (message.verdict === "metrics" && message.id === id) done(message.metrics);
          };
          const done = (metrics: MetricObjectWithValues<MetricValue<string>>[] | undefined) => {
            clearTimeout(timer);
            worker.off("message", onMessage);
            resolve(metrics);
          };
          worker.on("message", onMessage);
          send(worker, { verdict: "metrics", id });
        }),
    ),
  );
  // Loaded for the first scrape only: the primary starts without it.
  const { AggregatorRegistry } = await import("prom-client");
  return AggregatorRegistry.aggregate(replies.filter((reply) => reply !== undefined));
}

/** In a worker: tell the primary this process serves, and answer its requests (metrics, stop). */
export function serveAsClusterWorker(address: string, registry: Registry, stop: () => void): void {
  process.on("message", (message: ToWorker) => {
    if (message.verdict === "stop") stop();
    else if (message.verdict === "metrics") {
      void registry.getMetricsAsJSON().then((metrics) => process.send?.({ verdict: "metrics", id: message.id, metrics } satisfies ToPrimary));
    }
  });
  process.send?.({ verdict: "ready", address } satisfies ToPrimary);
}
