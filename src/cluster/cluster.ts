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
// replaces a worker that dies, ends one whose event loop is stuck (watchdog.ts), and on
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
import { Socket } from "node:net";
import { availableParallelism, setPriority } from "node:os";
import { setFlagsFromString } from "node:v8";
import type { MetricObjectWithValues, MetricValue, Registry } from "prom-client";
import { VerdictError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { listenBalanced, type BalancedListener } from "./balancer.js";
import { HUNG_AFTER_MS, SLOW_AFTER_MS, Watchdog } from "./watchdog.js";

/** Whether a process is ready, by named check (the shape of the server's readiness report). */
export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, boolean>;
}

/** What answers /readyz: a process's readiness, or the primary's over all of them. */
export interface ReadinessSource {
  report(): ReadinessReport;
  watch(listener: (ready: boolean) => void): () => void;
}

/** admin_listen as the primary serves it: the caller brings the listener (cluster/ knows only processes). */
export interface ClusterAdmin {
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

/** Processes of "auto": one per CPU, at most this many (each keeps its own database connections). */
const MAX_AUTO_PROCESSES = 8;
/**
 * Set by a serving process on itself at start (V8 reads it at each full collection; set
 * once the process serves instead, it came too late: the heap had already grown while the
 * modules loaded, and peak RSS under load went from about 150 to 217 MB): the
 * old generation may grow by 25% of what is live before the next full collection, where
 * V8 otherwise lets a busy process's heap grow by up to 4×, garbage included
 * (docs/performance.md#memory-and-start). Set at run time rather than on node's command
 * line, so that a V8 without the flag only warns instead of refusing to start.
 */
export const SERVING_HEAP_GROWTH_FLAG = "--heap-growing-percent=25";
/**
 * On the command line of each process the primary starts (V8 sizes the young
 * generation when it creates the heap: too late to set at run time). Node's default
 * lets each of the two semi-spaces grow to 16 MB in a busy process; at 8 MB peak RSS
 * under load is about 15 MB lower (135 against 150 MB in bench (a) and (b)) with no
 * throughput lost that the bench could tell (docs/performance.md#memory-and-start).
 * A single serving process takes it from NODE_OPTIONS.
 */
export const FORKED_SEMI_SPACE_FLAG = "--max-semi-space-size=8";
/**
 * In the environment of each process the primary starts (glibc reads it when the
 * process starts: too late to set at run time). glibc gives each thread that allocates
 * an arena of its own, up to 8 per CPU; a serving process's threads (the event loop,
 * libuv's pool, V8's helpers, the policy workers) each hold freed memory in theirs.
 * With two, peak RSS under bench (e) (CheckBatch of 50 at c64) was about 7 MB lower
 * (median 145 against 152 MB, 7 alternating pairs) and 2–7 MB in (a), (b) and (d), with
 * no CPU per decision lost that two Verdicts loaded side by side could tell (alternating
 * whole runs of (e) at c16 differed more: docs/performance.md#memory-and-start).
 * Ignored by other C libraries (musl, macOS).
 * A single serving process takes it from its own environment.
 */
export const FORKED_MALLOC_ARENAS = { MALLOC_ARENA_MAX: "2" } as const;
/** A worker that does not stop within this after being asked is killed. */
const STOP_GRACE_MS = 60_000;
/**
 * A worker that does not serve within this of its start is killed, and its start fails (the
 * server's start, or, for a replacement, the server): stuck in its start, it would otherwise
 * keep the primary from ever being ready, and nothing would restart it (the primary answers
 * /healthz). Twice what a worker waits for admin_listen's URL before it gives up itself.
 */
const START_DEADLINE_MS = 60_000;
/** Workers that die more often than this within RESTART_WINDOW_MS stop the whole server. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** How long a scrape waits for the workers' metrics. */
const METRICS_WAIT_MS = 2_000;

export type ToPrimary =
  | { verdict: "ready"; address: string }
  | { verdict: "admin"; adminUrl: string }
  | { verdict: "admin-url?" }
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
  | { verdict: "all-serving" }
  | { verdict: "ping" }
  // with a socket: a gRPC connection the primary accepted
  | { verdict: "connection" };

/** How many processes `processes` means on this machine. */
export function processCount(processes: number | "auto"): number {
  return processes === "auto" ? Math.max(1, Math.min(MAX_AUTO_PROCESSES, availableParallelism())) : processes;
}

/** Policy evaluation workers of "auto" in each of `processes` processes: their share of the CPUs, at least 1, at most this. */
const MAX_AUTO_POLICY_WORKERS = 2;

/**
 * How many policy worker threads `policy_workers` means in each of `processes`
 * processes on this machine: "auto" gives each process its share of the CPUs, so
 * that one per CPU (`processes: auto`) does not run two WebAssembly workers per
 * process (each a V8 isolate and a WebAssembly memory) on one core.
 */
export function policyWorkersPerProcess(policyWorkers: number | "auto", processes: number): number {
  if (policyWorkers !== "auto") return policyWorkers;
  return Math.max(1, Math.min(MAX_AUTO_POLICY_WORKERS, Math.floor(availableParallelism() / Math.max(1, processes))));
}

const flagName = (arg: string) => (arg.split("=")[0] ?? "").replaceAll("_", "-");

/** The V8 flags a serving process sets on itself at start: SERVING_HEAP_GROWTH_FLAG unless node's command line gave it. */
export function servingRuntimeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return execArgv.some((arg) => flagName(arg) === flagName(SERVING_HEAP_GROWTH_FLAG)) ? [] : [SERVING_HEAP_GROWTH_FLAG];
}

/** The flags the primary adds to its processes' command line: FORKED_SEMI_SPACE_FLAG unless node's command line or NODE_OPTIONS gave one. */
export function forkedProcessFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env["NODE_OPTIONS"] ?? ""): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => flagName(arg) === flagName(FORKED_SEMI_SPACE_FLAG));
  return given ? [] : [FORKED_SEMI_SPACE_FLAG];
}

/** The variables the primary adds to its processes' environment: FORKED_MALLOC_ARENAS unless the environment bounds the arenas already (MALLOC_ARENA_MAX, or glibc.malloc.arena_max in GLIBC_TUNABLES). */
export function forkedProcessEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const given = env["MALLOC_ARENA_MAX"] !== undefined || /(^|:)glibc\.malloc\.arena_max=/.test(env["GLIBC_TUNABLES"] ?? "");
  return given ? {} : { ...FORKED_MALLOC_ARENAS };
}

/** Bounds the heap's growth in this serving process (single or one of several): see SERVING_HEAP_GROWTH_FLAG. */
export function tuneServingProcess(): void {
  for (const flag of servingRuntimeFlags()) setFlagsFromString(flag);
}

/** The console's process runs at this niceness (Linux: 0 is normal, 19 the lowest priority). */
export const CONSOLE_NICENESS = 10;

/**
 * Lowers the console's process's CPU priority: on CPUs it shares with the deciding
 * processes, the scheduler runs decisions first and the console's reads with what is
 * left (an operator's page can wait a few milliseconds; a Check should not). False
 * where the system refuses (the console still serves).
 */
export function yieldToDecisions(): boolean {
  try {
    setPriority(CONSOLE_NICENESS);
    return true;
  } catch {
    return false;
  }
}

/** True in a worker process started by the primary. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/**
 * A process that could not start lets go of its primary: what listens to the primary would
 * otherwise keep it alive, and it exits with its own exit code (Node's cluster exits a worker
 * with 0 when the channel closes any other way), so the primary says it did not start.
 */
export function leavePrimary(): void {
  cluster.worker?.disconnect();
}

/**
 * In a serving process: `stop` runs when the primary's channel closes without this process
 * having asked (the primary died, or was killed), in place of Node's cluster, which exits such
 * a process at once (code 0), dropping the calls it has in flight and the audit records it
 * has not written yet. Node emits the worker's 'disconnect' before it looks at
 * `exitedAfterDisconnect`; set there, the process is left to finish its stop, as the primary
 * would have asked, and exits once it has. `stop` returns false when there is nothing left to
 * finish (the process has stopped): Node's exit then stands.
 */
export function stopWhenPrimaryGone(stop: () => boolean): void {
  const worker = cluster.worker;
  if (!worker) return;
  worker.once("disconnect", () => {
    if (!worker.exitedAfterDisconnect && stop()) worker.exitedAfterDisconnect = true;
  });
}

/** Set by the primary in the environment of the process that serves the console. */
const ROLE_VARIABLE = "VERDICT_PROCESS_ROLE" as const;
/** Set by the primary in the environment of a deciding process: the port it listens on for them. */
const GRPC_PORT_VARIABLE = "VERDICT_PRIMARY_GRPC_PORT" as const;

/** In a deciding worker: the port of the primary's gRPC listener, whose connections it is handed (undefined: it listens itself). */
export function primaryGrpcPort(env: { VERDICT_PRIMARY_GRPC_PORT?: string }): number | undefined {
  const port = Number(env[GRPC_PORT_VARIABLE]);
  return env[GRPC_PORT_VARIABLE] !== undefined && Number.isInteger(port) ? port : undefined;
}

/** What a worker process is for: deciding (gRPC, AuthZEN), or serving the console only. */
export function clusterRole(env: { VERDICT_PROCESS_ROLE?: string }): "worker" | "console" {
  return env[ROLE_VARIABLE] === "console" ? "console" : "worker";
}

export interface ClusterOptions {
  processes: number;
  log: Logger;
  /** Environment the workers get beside the primary's (e.g. the database the primary started). */
  env: Record<string, string>;
  /**
   * Where the deciding processes serve gRPC: the primary listens there and hands each
   * connection to the process with the fewest open. Without it, each process listens.
   */
  grpc?: { host: string; port: number };
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
export async function startCluster({ processes, log, env, serveAdmin, grpc, consoleProcess = false }: ClusterOptions): Promise<RunningCluster> {
  // Bound first: a port in use fails the start before any process does work, and port 0 becomes one port for all.
  const balancer: BalancedListener | undefined = grpc ? await listenBalanced({ ...grpc, log }) : undefined;
  const workers = new Set<Worker>();
  const readiness = new ClusterReadiness(processes);
  // Each serving process answers its primary's pings from its event loop (watchdog.ts).
  const watchdog = new Watchdog<Worker>();
  let stopping = false;
  const restarts: number[] = [];
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

  const fork = (role: "worker" | "console" = "worker"): Promise<string> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({
        ...forkedProcessEnv(),
        ...env,
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
        else if (message.verdict === "admin-url?") answerAdminUrl(worker);
        else if (message.verdict === "admin") {
          if (workers.has(worker)) workerUrls.set(worker.id, message.adminUrl);
        } else if ((message.verdict === "ready" || message.verdict === "console") && !ready) {
          ready = true;
          clearTimeout(startDeadline);
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
              if (role === "worker" && !stopping && !leaving) balancer?.add(worker);
              log.info({ pid }, "a Verdict process answers its primary again");
            },
            hung: (silentMs) => {
              log.error({ pid, silent_ms: silentMs }, `a Verdict process has not answered its primary for ${HUNG_AFTER_MS / 1_000} s: ending it`);
              worker.process.kill("SIGKILL");
            },
          });
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
        balancer?.remove(worker);
        readiness.forget(worker.id);
        workerUrls.delete(worker.id);
        if (role === "console") consoleUrl = undefined;
        if (!ready) {
          reject(new VerdictError("listen_failed", `a Verdict process did not start (exit ${code ?? signal}); its log above says why`));
          return;
        }
        if (stopping) return;
        log.error({ pid, code, signal }, "a Verdict process stopped unexpectedly; starting another");
        const now = Date.now();
        restarts.push(now);
        while (restarts.length > 0 && (restarts[0] as number) < now - RESTART_WINDOW_MS) restarts.shift();
        if (restarts.length > MAX_RESTARTS) {
          fail(new VerdictError("internal", `Verdict processes stopped ${restarts.length} times within a minute; stopping`));
          return;
        }
        fork(role).catch((error: unknown) => fail(error instanceof VerdictError ? error : new VerdictError("internal", String(error))));
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
    () => clusterMetrics(workers, balancer),
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
 * aggregates so; with the primary's gRPC listener, the connections each process has open.
 */
async function clusterMetrics(workers: ReadonlySet<Worker>, balancer: BalancedListener | undefined): Promise<Registry> {
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
  const { AggregatorRegistry, Gauge } = (await import("prom-client")).default;
  const registry: Registry = AggregatorRegistry.aggregate(replies.filter((reply) => reply !== undefined));
  if (balancer) {
    const open = new Gauge({
      name: "verdict_process_grpc_connections",
      help: "gRPC connections open on each serving process (the primary hands each new one to the process with the fewest)",
      labelNames: ["pid"],
      registers: [registry],
    });
    for (const [worker, count] of balancer.open()) open.set({ pid: String(worker.process.pid) }, count);
  }
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

/**
 * From a worker to its primary; dropped once the channel has closed (the primary is gone:
 * the process is stopping, and what it would say, its readiness going down, its connections
 * closing, has no one to hear it). The callback takes a failed send's error, which Node
 * would otherwise emit as an event that ends the process.
 */
function toPrimary(message: ToPrimary): void {
  if (process.connected) process.send?.(message, undefined, undefined, () => undefined);
}

/** What a worker's primary tells it. */
export interface PrimaryRequests {
  /** Resolves when the primary says every process serves, or asks this one to stop, or is gone, or after `waitMs`, whichever is first. */
  allServing(waitMs: number): Promise<void>;
}

/** In a worker: answers the primary's requests, its metrics at once, and its stop by calling `stop`. */
export function answerPrimary(registry: Registry, stop: () => void): PrimaryRequests {
  let serving: () => void = () => undefined;
  const allServing = new Promise<void>((resolve) => (serving = resolve));
  // A primary that is gone will not say: this process stops (stopWhenPrimaryGone) without waiting for it.
  process.once("disconnect", () => serving());
  process.on("message", (message: ToWorker) => {
    if (message.verdict === "stop") {
      serving();
      stop();
    } else if (message.verdict === "all-serving") {
      serving();
    } else if (message.verdict === "ping") {
      toPrimary({ verdict: "pong" });
    } else if (message.verdict === "metrics") {
      void registry.getMetricsAsJSON().then((metrics) => toPrimary({ verdict: "metrics", id: message.id, metrics }));
    }
  });
  return {
    async allServing(waitMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([allServing, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
    },
  };
}

/** In a worker that stops: the primary hands it no new connection (those it has, it finishes). */
export function reportStopping(): void {
  toPrimary({ verdict: "stopping" });
}

/** In a deciding worker, once its gRPC listener serves: tells the primary, then each change of its readiness. */
export function reportServing(address: string, readiness: ReadinessSource): void {
  readiness.watch(() => toPrimary({ verdict: "readiness", report: readiness.report() }));
  toPrimary({ verdict: "ready", address });
}

/**
 * In a deciding worker served by the primary's gRPC listener: each connection the
 * primary hands over goes to `inject` (false: this process no longer takes
 * connections, so it is closed), and the primary is told when it closes, once.
 */
export function acceptConnections(inject: (socket: Socket) => boolean): void {
  process.on("message", (message: ToWorker, handle: unknown) => {
    if (message.verdict !== "connection") return;
    const closed = () => toPrimary({ verdict: "closed" });
    if (!(handle instanceof Socket)) return closed();
    handle.once("close", closed);
    if (!inject(handle)) handle.destroy();
  });
}

/**
 * In a worker, once its private admin listener serves: where it is, for the routes the
 * primary forwards. The console's process (no gRPC, no readiness) says it serves this way.
 */
export function reportAdminUrl(adminUrl: string, role: "worker" | "console"): void {
  toPrimary(role === "console" ? { verdict: "console", adminUrl } : { verdict: "admin", adminUrl });
}

/** How long a worker waits for the primary to say admin_listen's URL before it gives up starting. */
export const PRIMARY_ADMIN_URL_WAIT_MS = 30_000;

/** What a worker talks to its primary through: the process's IPC channel (tests pass their own). */
export interface PrimaryChannel {
  send?(message: ToPrimary): unknown;
  on(event: "message", listener: (message: ToWorker) => void): unknown;
  off(event: "message", listener: (message: ToWorker) => void): unknown;
}

/**
 * In a worker: asks the primary for admin_listen's URL (the one people and other
 * services reach; this process's own admin listener is private), the base of the
 * links approvals name. Asked at the start, awaited before the process serves, so no
 * decision names a link without it. Rejects (the process does not start) when the
 * primary has not said within `waitMs`.
 */
export function primaryAdminUrl(channel: PrimaryChannel = process, waitMs = PRIMARY_ADMIN_URL_WAIT_MS): Promise<string> {
  const url = new Promise<string>((resolve, reject) => {
    const onMessage = (message: ToWorker) => {
      if (message.verdict !== "admin-url") return;
      settle();
      resolve(message.url);
    };
    const timer = setTimeout(() => {
      settle();
      reject(new VerdictError("internal", `the primary did not say admin_listen's URL within ${waitMs / 1000} s`));
    }, waitMs);
    timer.unref();
    const settle = () => {
      clearTimeout(timer);
      channel.off("message", onMessage);
    };
    channel.on("message", onMessage);
    channel.send?.({ verdict: "admin-url?" });
  });
  url.catch(() => undefined); // awaited later; a start that failed first never awaits it
  return url;
}
