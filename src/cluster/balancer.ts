// The gRPC listener of a primary with several deciding processes. Each HTTP/2
// connection is served by one process for its whole life, so where a connection
// lands decides which CPU its calls use. Node's cluster hands each accepted
// connection to whichever process took the last one: connections that arrive
// together (a load generator's, or the SDK's two) often landed three to one on two
// processes, one busy and the other idle. Here the primary accepts each connection
// itself and hands it over IPC to the serving process with the fewest open
// connections (ties in turn); the process serves it through grpc-js's connection
// injector and says when it closes. At most max_connections are open at once, handed
// over or waiting: one more is closed at once. A process out of rotation (silent to the
// watchdog, stopping) keeps its open connections counted until it exits: they are open.
import type { Worker } from "node:cluster";
import { createServer, type Socket } from "node:net";
import type { Logger } from "../observability/index.js";
import { listenOn, refusedConnections } from "./listen.js";

/** Connections accepted while no process serves yet (during the start, or when all were replaced) wait at most this. */
export const HELD_CONNECTION_MS = 10_000;
/** At most this many connections wait for a process; more are closed (the client reconnects). */
export const MAX_HELD_CONNECTIONS = 1_024;

export interface BalancedListener {
  /** host:port, an IPv6 host in brackets. */
  address: string;
  port: number;
  /** A process serves (again): connections may go to it from now on. */
  add(worker: Worker): void;
  /** A process is silent or stopping: no more go to it; those it has still count until it exits. */
  remove(worker: Worker): void;
  /** A process exited: its connections closed with it. */
  forget(worker: Worker): void;
  /** A process says one of the connections it was handed has closed. */
  closed(worker: Worker): void;
  /** Open connections of each process not yet exited, in rotation or not. */
  open(): ReadonlyMap<Worker, number>;
  /** Connections closed since the start because max_connections were open. */
  refused(): number;
  /** Stops accepting and closes the connections still waiting (those handed over are the processes' to finish). */
  close(): Promise<void>;
}

interface Held {
  socket: Socket;
  timer: NodeJS.Timeout;
}

/** Listens on host:port (0: a free port); rejects with listen_failed when it cannot. */
export async function listenBalanced({
  host,
  port,
  maxConnections,
  log,
}: {
  host: string;
  port: number;
  maxConnections: number;
  log: Logger;
}): Promise<BalancedListener> {
  // Sockets stay paused: the primary reads nothing; the process it hands one to does.
  const server = createServer({ pauseOnConnect: true, noDelay: true });
  // Handed over and not yet said closed, per process until it exits; only those in `serving` are handed more.
  const open = new Map<Worker, number>();
  const serving = new Set<Worker>();
  const held: Held[] = [];
  let turn = 0;
  const warning = refusedConnections(log, maxConnections);
  let refused = 0;
  // Handed over and not yet said closed by their process, and waiting for one.
  const openNow = (): number => [...open.values()].reduce((sum, count) => sum + count, held.length);

  const pick = (): Worker | undefined => {
    const counts = [...serving].map((worker) => [worker, open.get(worker) ?? 0] as const);
    if (counts.length === 0) return undefined;
    const fewest = Math.min(...counts.map(([, count]) => count));
    const candidates = counts.filter(([, count]) => count === fewest);
    return candidates[turn++ % candidates.length]?.[0];
  };
  // One fewer open on a process not yet forgotten, never below none.
  const oneClosed = (worker: Worker): void => {
    const count = open.get(worker);
    if (count !== undefined) open.set(worker, Math.max(0, count - 1));
  };

  const hand = (socket: Socket, worker: Worker): void => {
    open.set(worker, (open.get(worker) ?? 0) + 1);
    // Sent, the primary's copy of the socket is closed (keepOpen false).
    worker.send({ verdict: "connection" }, socket, (error) => {
      if (!error) return;
      socket.destroy();
      oneClosed(worker);
    });
  };

  const release = (): void => {
    while (held.length > 0 && serving.size > 0) {
      const next = held.shift() as Held;
      clearTimeout(next.timer);
      if (!next.socket.destroyed) hand(next.socket, pick() as Worker);
    }
  };

  server.on("connection", (socket) => {
    if (openNow() >= maxConnections) {
      socket.destroy();
      refused += 1;
      return warning.count();
    }
    const worker = pick();
    if (worker) return hand(socket, worker);
    if (held.length >= MAX_HELD_CONNECTIONS) return void socket.destroy();
    const entry: Held = {
      socket,
      timer: setTimeout(() => {
        const at = held.indexOf(entry);
        if (at >= 0) held.splice(at, 1);
        socket.destroy();
      }, HELD_CONNECTION_MS),
    };
    held.push(entry);
  });
  const address = host.includes(":") ? `[${host}]` : host;
  const bound = await listenOn(server, host, port, log);

  return {
    address: `${address}:${bound}`,
    port: bound,
    add(worker) {
      serving.add(worker);
      // Back from a silence, its connections are still open: its count stays.
      if (!open.has(worker)) open.set(worker, 0);
      release();
    },
    remove(worker) {
      serving.delete(worker);
    },
    forget(worker) {
      serving.delete(worker);
      open.delete(worker);
    },
    closed: oneClosed,
    open: () => new Map(open),
    refused: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        for (const { socket, timer } of held.splice(0)) {
          clearTimeout(timer);
          socket.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
