// The gRPC listener of a Verdict that serves in one process: a TCP server that
// hands each connection to grpc-js (its connection injector) and keeps at most
// max_connections open. (With several processes the primary listens and bounds
// them: cluster/balancer.ts.)
import { createServer, type Socket } from "node:net";
import { listenOn, refusedConnections } from "../../cluster/index.js";
import type { Counter } from "prom-client";
import type { Logger } from "../../observability/index.js";
import { capConnections } from "../bounds.js";

export interface CappedListener {
  port: number;
  /** Stops accepting connections (those open are the gRPC server's to finish). */
  close(): void;
}

/**
 * Listens on host:port (0: a free port) and gives each connection to `serve`, counting
 * in `refused` (and a warning) each one closed for the bound; rejects with listen_failed
 * when it cannot listen.
 */
export async function listenCapped({
  host,
  port,
  maxConnections,
  log,
  serve,
  refused,
}: {
  host: string;
  port: number;
  maxConnections: number;
  log: Logger;
  serve: (socket: Socket) => void;
  refused: Counter;
}): Promise<CappedListener> {
  const server = createServer({ noDelay: true }, (socket) => {
    if (!socket.destroyed) serve(socket); // else closed for the bound
  });
  capConnections(server, { maxConnections, refused, warning: refusedConnections(log, maxConnections) });
  return { port: await listenOn(server, host, port, log), close: () => void server.close() };
}
