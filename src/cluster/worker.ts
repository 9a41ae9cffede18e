// A serving process's side of its primary: what it tells the primary (serving, its
// readiness, its private admin URL, that it stops, its pings answered), and what it
// takes from it (its configuration, connections, the request to stop, admin_listen's URL,
// metrics asked).
import cluster from "node:cluster";
import { Socket } from "node:net";
import type { Registry } from "prom-client";
import { VerdictError } from "../errors/index.js";
import type { BundleRole } from "../observability/index.js";
import { GRPC_PORT_VARIABLE, ROLE_VARIABLE, type KeptBundles, type ReadinessSource, type ToPrimary, type ToWorker } from "./messages.js";

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

/** In a deciding worker: the port of the primary's gRPC listener, whose connections it is handed (undefined: it listens itself). */
export function primaryGrpcPort(env: { VERDICT_PRIMARY_GRPC_PORT?: string }): number | undefined {
  const port = Number(env[GRPC_PORT_VARIABLE]);
  return env[GRPC_PORT_VARIABLE] !== undefined && Number.isInteger(port) ? port : undefined;
}

/** What a worker process is for: deciding (gRPC, AuthZEN), or serving the console only. */
export function clusterRole(env: { VERDICT_PROCESS_ROLE?: string }): "worker" | "console" {
  return env[ROLE_VARIABLE] === "console" ? "console" : "worker";
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

/** How long a worker waits for its primary's answer (its configuration, admin_listen's URL) before it gives up starting. */
export const PRIMARY_ANSWER_WAIT_MS = 30_000;

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
export function primaryAdminUrl(channel: PrimaryChannel = process, waitMs = PRIMARY_ANSWER_WAIT_MS): Promise<string> {
  const url = askPrimary(channel, { verdict: "admin-url?" }, "admin-url", waitMs, "admin_listen's URL").then((answer) => answer.url);
  url.catch(() => undefined); // awaited later; a start that failed first never awaits it
  return url;
}

/**
 * In a worker: the configuration its primary validated at its start, which every one of
 * its processes serves with (a process started later, in place of one that died, too,
 * whatever the file says by then), and which no process reads or validates again; and
 * where the primary keeps copies of the bundles its processes loaded (none when it
 * could not make a directory for them). Rejects (the process does not start) when the
 * primary has not said within `waitMs`.
 */
export async function primaryConfiguration(
  channel: PrimaryChannel = process,
  waitMs = PRIMARY_ANSWER_WAIT_MS,
): Promise<{ configuration: unknown; bundles?: KeptBundles | undefined }> {
  const { configuration, bundles } = await askPrimary(channel, { verdict: "configuration?" }, "configuration", waitMs, "the configuration");
  return { configuration, bundles };
}

/** In a worker: tells the primary where the copy of the `role` bundle it just loaded from that bundle's path is. */
export function reportKeptBundle(path: string, role: BundleRole): void {
  toPrimary({ verdict: "bundle-kept", path, role });
}

/** Asks the primary `question` and resolves with its first answer of the kind `answer`; rejects after `waitMs` without one. */
function askPrimary<K extends ToWorker["verdict"]>(
  channel: PrimaryChannel,
  question: ToPrimary,
  answer: K,
  waitMs: number,
  what: string,
): Promise<Extract<ToWorker, { verdict: K }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ToWorker) => {
      if (message.verdict !== answer) return;
      settle();
      resolve(message as Extract<ToWorker, { verdict: K }>);
    };
    const timer = setTimeout(() => {
      settle();
      reject(new VerdictError("internal", `the primary did not say ${what} within ${waitMs / 1000} s`));
    }, waitMs);
    timer.unref();
    const settle = () => {
      clearTimeout(timer);
      channel.off("message", onMessage);
    };
    channel.on("message", onMessage);
    channel.send?.(question);
  });
}
