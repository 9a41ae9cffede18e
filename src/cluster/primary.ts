// Verdict on every core: `processes` (default one per CPU) worker processes all
// serving the same ports — the primary accepts each gRPC connection and hands it to
// the process with the fewest open (balancer.ts); Node's cluster hands out the
// AuthZEN listener's in turn — each a whole Verdict with its own event loop, policy
// workers, token cache, connection pool and audit writer. Verification, evaluation
// and gRPC of one process no longer queue behind another's. Real-time state and the
// audit trail are in the shared database, where every limit already holds across
// any number of processes; each process reloads the bundle when its file changes.
//
// The primary only supervises: it starts the workers and says "verdict is serving"
// once every one of them is, serves admin_listen for all of them (/readyz: ready
// while every process is; /metrics: theirs, gathered over IPC; each process's own
// admin listener is on a private loopback port, started once it serves),
// replaces a worker that dies (one that cannot load the bundle's path starts on the copy
// of the last good bundle the processes keep in a directory of the primary's,
// kept-bundles.ts), ends one whose event loop is stuck (watchdog.ts), and on
// SIGTERM asks each to stop (each finishes the calls it has and writes or spills every
// audit record) before it exits.
//
// The routes a process must answer (the Shared Signals receiver, the approval pages)
// the primary's admin listener forwards to a deciding process's private one, in turn;
// a process asks the primary for admin_listen's URL, the one its approval links name.
// A deciding process says it serves as soon as its gRPC listener does, and starts its
// private admin listener after that (its modules and routes are CPU the start does not
// wait for) once every process serves, so that it does not slow the others' start: the
// primary forwards to it once it has said where it is.
//
// With the console on, one more process serves only the console (no gRPC or AuthZEN
// listener, so it takes no decision traffic): the primary's admin listener forwards
// /console/ to that process's private one, and its reads of the trail never share an
// event loop with decisions. It is not part of readiness (decisions do not need it)
// and is replaced like any other when it dies.
import cluster, { type Worker } from "node:cluster";
import type { MetricObjectWithValues, MetricValue, Registry } from "prom-client";
import { VerdictError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { listenBalanced, type BalancedListener } from "./balancer.js";
import { ADMIN_CONNECTIONS_CLOSED_METRIC, ADMIN_CONNECTIONS_REFUSED_METRIC, CONNECTIONS_REFUSED_METRIC } from "./listen.js";
import { KeptBundleDir } from "./kept-bundles.js";
import { GRPC_PORT_VARIABLE, ROLE_VARIABLE, type ReadinessReport, type ReadinessSource, type ToPrimary, type ToWorker } from "./messages.js";
import { RestartBudget } from "./restarts.js";
import { forkedProcessEnv, forkedProcessFlags } from "./tuning.js";
import { HUNG_AFTER_MS, SLOW_AFTER_MS, Watchdog } from "./watchdog.js";

/** admin_listen as the primary serves it: the caller brings the listener (cluster/ knows only processes). */
export interface ClusterAdmin {
  /** http://host:port */
  url: string;
  /** Connections it closed as soon as they were accepted, by the bound that closed them (ADMIN_CONNECTIONS_REFUSED_METRIC). */
  connectionsRefused(): Readonly<Record<string, number>>;
  /** Connections it closed for their answers, by reason (ADMIN_CONNECTIONS_CLOSED_METRIC). */
  connectionsClosed(): Readonly<Record<string, number>>;
  close(): Promise<void>;
}

/** A worker that does not stop within this after being asked is killed. */
const STOP_GRACE_MS = 60_000;
/**
 * A worker that does not serve within this of its start is killed, and its start fails (the
 * server's start, or, for a replacement, the server): stuck in its start, it would otherwise
 * keep the primary from ever being ready, and nothing would restart it (the primary answers
 * /healthz). Twice what a worker waits for admin_listen's URL before it gives up itself.
 */
const START_DEADLINE_MS = 60_000;
/** How long a scrape waits for the workers' metrics. */
const METRICS_WAIT_MS = 2_000;

export interface ClusterOptions {
  processes: number;
  log: Logger;
  /**
   * What every process serves with, handed to each over its channel when it asks (a JSON
   * value): the primary's configuration, validated once, so that the processes of one
   * Verdict run the same one, a replacement too, whatever the file says by then.
   */
  configuration: unknown;
  /**
   * Where the deciding processes serve gRPC: the primary listens there and hands each
   * connection to the process with the fewest open, at most `maxConnections` open at
   * once (max_connections). Without it, each process listens.
   */
  grpc?: { host: string; port: number; maxConnections: number };
  /** Also start one process that serves the console only (console.enabled). */
  consoleProcess?: boolean;
  /**
   * Starts admin_listen with the processes' readiness, their metrics gathered, the
   * console process's private admin URL (undefined without one, or while it restarts),
   * and a deciding process's private admin URL, a different one each call (undefined while none serves).
   */
  serveAdmin: (
    readiness: ReadinessSource,
    metrics: () => Promise<Registry>,
    consoleUrl: () => string | undefined,
    workerUrl: () => string | undefined,
  ) => Promise<ClusterAdmin>;
}

export interface RunningCluster {
  /** host:port the workers serve gRPC on. */
  address: string;
  /** http://host:port of admin_listen, served by the primary for every process. */
  adminUrl: string;
  /** Resolves when the server stopped by itself (workers dying too often). */
  failed: Promise<VerdictError>;
  /** Asks every worker to stop, waits for them, then closes the admin listener. */
  stop(): Promise<void>;
}

/** Starts the workers; resolves once every one is serving, or rejects when one could not start. */
export async function startCluster({ processes, log, configuration, serveAdmin, grpc, consoleProcess = false }: ClusterOptions): Promise<RunningCluster> {
  // Bound first: a port in use fails the start before any process does work, and port 0 becomes one port for all.
  const balancer: BalancedListener | undefined = grpc ? await listenBalanced({ ...grpc, log }) : undefined;
  // Copies of the bundles the processes load: a replacement started while the bundle's file does not load serves the last good one.
  const bundles = KeptBundleDir.create(log);
  const workers = new Set<Worker>();
  const readiness = new ClusterReadiness(processes);
  // Each serving process answers its primary's pings from its event loop (watchdog.ts).
  const watchdog = new Watchdog<Worker>();
  let stopping = false;
  const restarts = new RestartBudget();
  let fail: (error: VerdictError) => void = () => {};
  const failed = new Promise<VerdictError>((resolve) => (fail = resolve));

  let consoleUrl: string | undefined;
  // The deciding processes' private admin listeners, by worker id; handed out in turn.
  const workerUrls = new Map<number, string>();
  let turn = 0;
  const workerUrl = (): string | undefined => {
    const urls = [...workerUrls.values()];
    return urls.length === 0 ? undefined : urls[turn++ % urls.length];
  };
  let answerAdminUrl: (worker: Worker) => void = () => undefined;
  // Set once every process of the start serves; a replacement is told as soon as it does.
  let allServing = false;
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...forkedProcessFlags()] });

  // The watchdog's judgement of a serving process, acted on: silent, it gets no new connection
  // until it answers again (when `takesConnections` still holds); hung, it is ended and, as
  // any process that dies, replaced.
  const watchProcess = (worker: Worker, takesConnections: () => boolean) => {
    const pid = worker.process.pid;
    watchdog.watch(worker, {
      ping: () => send(worker, { verdict: "ping" }),
      slow: (silentMs) => {
        balancer?.remove(worker);
        log.warn(
          { pid, silent_ms: silentMs },
          `a Verdict process has not answered its primary for ${SLOW_AFTER_MS / 1_000} s: new connections go to the others`,
        );
      },
      answeredAgain: () => {
        if (takesConnections()) balancer?.add(worker);
        log.info({ pid }, "a Verdict process answers its primary again");
      },
      hung: (silentMs) => {
        log.error({ pid, silent_ms: silentMs }, `a Verdict process has not answered its primary for ${HUNG_AFTER_MS / 1_000} s: ending it`);
        worker.process.kill("SIGKILL");
      },
    });
  };

  // A process that died is replaced, unless processes die so often that the server stops.
  const replace = (role: "worker" | "console") => {
    const tooMany = restarts.died();
    if (tooMany !== undefined) {
      fail(new VerdictError("internal", `Verdict processes stopped ${tooMany} times within a minute; stopping`));
      return;
    }
    fork(role).catch((error: unknown) => fail(error instanceof VerdictError ? error : new VerdictError("internal", String(error))));
  };

  const fork = (role: "worker" | "console" = "worker"): Promise<string> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({
        ...forkedProcessEnv(),
        ...(role === "console" ? { [ROLE_VARIABLE]: "console" } : balancer ? { [GRPC_PORT_VARIABLE]: String(balancer.port) } : {}),
      });
      workers.add(worker);
      let ready = false;
      const pid = worker.process.pid;
      const startDeadline = setTimeout(() => {
        log.error({ pid }, `a Verdict process did not serve within ${START_DEADLINE_MS / 1_000} s of its start: ending it`);
        worker.process.kill("SIGKILL");
      }, START_DEADLINE_MS);
      // It said it stops on its own (a signal to it alone, an exception nothing caught): it finishes its calls, and takes no new connection.
      let leaving = false;
      worker.on("message", (message: ToPrimary) => {
        if (message.verdict === "closed") balancer?.closed(worker);
        else if (message.verdict === "pong") watchdog.answered(worker);
        else if (message.verdict === "stopping") {
          leaving = true;
          balancer?.remove(worker);
          if (!stopping) log.warn({ pid }, "a Verdict process is stopping: new connections go to the others");
        } else if (message.verdict === "readiness") readiness.update(worker.id, message.report);
        else if (message.verdict === "configuration?") send(worker, { verdict: "configuration", configuration, ...(bundles ? { bundles: bundles.kept } : {}) });
        else if (message.verdict === "bundle-kept") bundles?.keep(message.path, message.role);
        else if (message.verdict === "admin-url?") answerAdminUrl(worker);
        else if (message.verdict === "admin") {
          if (workers.has(worker)) workerUrls.set(worker.id, message.adminUrl);
        } else if ((message.verdict === "ready" || message.verdict === "console") && !ready) {
          ready = true;
          clearTimeout(startDeadline);
          watchProcess(worker, () => role === "worker" && !stopping && !leaving);
          if (message.verdict === "console") consoleUrl = message.adminUrl;
          else {
            if (!stopping) balancer?.add(worker);
            if (allServing) send(worker, { verdict: "all-serving" });
          }
          resolve(message.verdict === "ready" ? message.address : message.adminUrl);
        }
      });
      // A failed send to a process that is going is not the primary's end (send() above takes its errors too).
      worker.on("error", (error: Error) => log.debug({ pid, err: error.message }, "a Verdict process's channel failed"));
      worker.on("exit", (code, signal) => {
        clearTimeout(startDeadline);
        workers.delete(worker);
        watchdog.forget(worker);
        // Gone, and its connections with it: they no longer count toward max_connections.
        balancer?.forget(worker);
        readiness.forget(worker.id);
        workerUrls.delete(worker.id);
        if (role === "console") consoleUrl = undefined;
        if (!ready) {
          reject(new VerdictError("listen_failed", `a Verdict process did not start (exit ${code ?? signal}); its log above says why`));
          return;
        }
        if (stopping) return;
        log.error({ pid, code, signal }, "a Verdict process stopped unexpectedly; starting another");
        replace(role);
      });
    });

  const stopWorkers = async () => {
    stopping = true;
    // No new connections (the processes finish the calls on theirs); the listener's close is awaited with them.
    const listenerClosed = balancer?.close();
    for (const worker of workers) balancer?.remove(worker);
    await Promise.all([
      listenerClosed,
      ...[...workers].map(
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
    ]);
  };

  // admin_listen starts while the processes do (its modules load beside theirs, not after):
  // /healthz answers at once and /readyz says not ready until every process is.
  const adminStarting = serveAdmin(
    readiness,
    () => clusterMetrics(workers, balancer, adminStarting),
    () => consoleUrl,
    workerUrl,
  );
  // A process that asks before admin_listen is bound gets its URL once it is.
  answerAdminUrl = (worker) => void adminStarting.then(({ url }) => send(worker, { verdict: "admin-url", url })).catch(() => undefined);
  // admin_listen refused (a port in use): the processes have nothing to start for; end them now, not when they give up waiting for its URL.
  adminStarting.catch(() => {
    for (const worker of workers) worker.process.kill("SIGTERM");
  });
  const [forked, consoleForked, adminStarted] = await Promise.allSettled([
    Promise.all(Array.from({ length: processes }, () => fork())),
    consoleProcess ? fork("console") : Promise.resolve(undefined),
    adminStarting,
  ]);
  if (forked.status === "rejected" || consoleForked.status === "rejected" || adminStarted.status === "rejected") {
    await stopWorkers();
    bundles?.remove();
    if (adminStarted.status === "fulfilled") await adminStarted.value.close().catch(() => undefined);
    throw adminStarted.status === "rejected"
      ? adminStarted.reason
      : forked.status === "rejected"
        ? forked.reason
        : (consoleForked as PromiseRejectedResult).reason;
  }
  allServing = true;
  for (const worker of workers) send(worker, { verdict: "all-serving" });
  const address = balancer?.address ?? forked.value[0];
  const admin = adminStarted.value;
  log.debug({ processes }, "every Verdict process is serving");
  return {
    address: address ?? "",
    adminUrl: admin.url,
    failed,
    async stop() {
      readiness.stopping = true;
      await stopWorkers();
      bundles?.remove();
      await admin.close();
    },
  };
}

/**
 * A message to a process; one whose channel closed meanwhile (it is exiting: its exit
 * handler sees to it) is dropped. With the callback, Node reports a failed send there
 * rather than as an 'error' event that would end the primary (EPIPE, seen when a
 * process ended by a refused admin_listen was asked to stop).
 */
function send(worker: Worker, message: ToWorker): void {
  if (worker.isConnected()) worker.send(message, () => undefined);
}

let nextRequest = 1;

/**
 * Every worker's metrics, summed (counters) or kept per worker where prom-client
 * aggregates so; with the primary's gRPC listener, the connections each process has open;
 * and the connections admin_listen refused.
 */
async function clusterMetrics(workers: ReadonlySet<Worker>, balancer: BalancedListener | undefined, adminStarting: Promise<ClusterAdmin>): Promise<Registry> {
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
  // Loaded for the first scrape only: the primary starts without it. Through the
  // CommonJS module's default export: a bundler's lazy chunk of a CommonJS package has only that one.
  const { AggregatorRegistry, Counter, Gauge } = (await import("prom-client")).default;
  const registry: Registry = AggregatorRegistry.aggregate(replies.filter((reply) => reply !== undefined));
  if (balancer) {
    const open = new Gauge({
      name: "verdict_process_grpc_connections",
      help: "gRPC connections open on each serving process (the primary hands each new one to the process with the fewest)",
      labelNames: ["pid"],
      registers: [registry],
    });
    for (const [worker, count] of balancer.open()) open.set({ pid: String(worker.process.pid) }, count);
    new Counter({ ...CONNECTIONS_REFUSED_METRIC, registers: [registry] }).inc(balancer.refused());
  }
  // Scraped through it: it has started.
  const admin = await adminStarting;
  const refused = new Counter({ ...ADMIN_CONNECTIONS_REFUSED_METRIC, registers: [registry] });
  for (const [reason, count] of Object.entries(admin.connectionsRefused())) refused.inc({ reason }, count);
  const closed = new Counter({ ...ADMIN_CONNECTIONS_CLOSED_METRIC, registers: [registry] });
  for (const [reason, count] of Object.entries(admin.connectionsClosed())) closed.inc({ reason }, count);
  return registry;
}

/**
 * The primary's readiness: every process has said it is ready (each check passes in
 * every process) and none is stopping. Processes report their own on each change.
 */
class ClusterReadiness implements ReadinessSource {
  private readonly reports = new Map<number, ReadinessReport>();
  stopping = false;

  constructor(private readonly processes: number) {}

  update(worker: number, report: ReadinessReport): void {
    this.reports.set(worker, report);
  }

  forget(worker: number): void {
    this.reports.delete(worker);
  }

  report(): ReadinessReport {
    const checks: Record<string, boolean> = { processes: !this.stopping && this.reports.size >= this.processes };
    for (const report of this.reports.values()) {
      for (const [name, passes] of Object.entries(report.checks)) checks[name] = (checks[name] ?? true) && passes;
    }
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  /** The primary has no gRPC health of its own to follow readiness; nothing watches. */
  watch(listener: (ready: boolean) => void): () => void {
    listener(this.report().ready);
    return () => undefined;
  }
}
