// What an HTTP/1.1 listener (AuthZEN's, the admin one) holds a client to once its
// requests have arrived: Node parses every request a connection pipelines, a whole
// read's worth at a time (a 64 kB read of small GETs is about a thousand), and
// keeps each one's answer until the client reads the answers before it. A client
// that sends requests and never reads held about 5 MB a connection, and one whose
// answers waited unread kept its connection for ever (measured on Node 20: 50
// connections of 20,000 pipelined GETs took a process from 124 to 373 MB).
//
// So a connection is closed (counted by reason, and logged):
// - pipelined: when more than MAX_PIPELINED of its requests are unanswered at once
//   (a client that waits for each answer has one; one that pipelines, a handful).
//   The requests Node parses from the same read after that reach no route.
// - unread: when an answer has waited UNREAD_AFTER_MS for its client to read, the
//   connection writing nothing meanwhile: what Node has for the socket (its stream's
//   buffer, and libuv's queue under it, read as Node's own socket timeout reads it)
//   did not move. The system's buffers (megabytes on each side) take an answer's first
//   part and hand libuv's queue on only as the client frees them, so a client reading a
//   large answer slowly can go a while without it moving: hence a minute, where answers
//   here are small (at most a page of search results or a batch of evaluations). Small
//   answers the system takes whole, and the connection then ends as any idle one does
//   (keepAliveTimeout).
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { CountedWarning, type Logger } from "../observability/index.js";

/** Requests of one connection unanswered at once beyond which it is closed. */
export const MAX_PIPELINED = 32;
/** How long an answer may wait unread, its connection writing nothing, before the connection is closed. */
export const UNREAD_AFTER_MS = 60_000;
/** How often the open connections are looked at. */
const SWEEP_MS = 1_000;

export type HttpCloseReason = "pipelined" | "unread";

/** Node's handle of a socket: libuv's queue of bytes not yet taken by the system (internal, what net.Socket's own timeout reads). */
interface WithHandle {
  _handle?: { writeQueueSize?: number } | null;
  /** Over TLS, the connection under the encrypted one. */
  _parent?: WithHandle | null;
}

/** A number that moves whenever the socket writes: more written to it, or more of it taken by the system. */
function writeProgress(socket: Socket): number {
  const { _handle, _parent } = socket as unknown as WithHandle;
  return socket.bytesWritten + socket.writableLength + (_handle?.writeQueueSize ?? 0) + (_parent?._handle?.writeQueueSize ?? 0);
}

interface Connection {
  /** Requests received whose answers have not been handed to the system yet. */
  answering: Set<ServerResponse>;
  /** What the socket had written at the last look, and since when that has not moved while an answer waited. */
  written: number;
  stalledSince: number | undefined;
}

/**
 * Watches `server`'s connections as above, counting each connection closed in
 * `closed` and logging it (`listener` names it). Call before the server listens;
 * the watch ends with the server.
 */
export function watchHttpAnswers(
  server: Server,
  { closed, log, listener, now = () => performance.now() }: { closed: (reason: HttpCloseReason) => void; log: Logger; listener: string; now?: () => number },
): void {
  const connections = new Map<Socket, Connection>();
  const warnings: Record<HttpCloseReason, CountedWarning> = {
    pipelined: new CountedWarning(log, `closed a connection with more than ${MAX_PIPELINED} requests unanswered at once`, { listener }),
    unread: new CountedWarning(log, `closed a connection whose client did not read its answers for ${UNREAD_AFTER_MS / 1_000} s`, { listener }),
  };
  const close = (socket: Socket, reason: HttpCloseReason) => {
    connections.delete(socket);
    // Reset, so that what the client did not read is dropped at once rather than kept for it
    // by the system (over TLS, where Node cannot reset, closed).
    if ("encrypted" in socket) socket.destroy();
    else socket.resetAndDestroy();
    closed(reason);
    warnings[reason].count();
  };

  // The routes' handlers (Fastify's) see only the requests let through.
  const handlers = server.listeners("request") as ((request: IncomingMessage, response: ServerResponse) => void)[];
  server.removeAllListeners("request");
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    if (socket.destroyed) return;
    let connection = connections.get(socket);
    if (!connection) {
      connection = { answering: new Set(), written: writeProgress(socket), stalledSince: undefined };
      connections.set(socket, connection);
      socket.once("close", () => connections.delete(socket));
    }
    if (connection.answering.size >= MAX_PIPELINED) return close(socket, "pipelined");
    const { answering } = connection;
    answering.add(response);
    response.once("finish", () => answering.delete(response)).once("close", () => answering.delete(response));
    for (const handler of handlers) handler.call(server, request, response);
  });

  const sweep = setInterval(() => {
    const at = now();
    for (const [socket, connection] of connections) {
      const written = writeProgress(socket);
      const waiting = [...connection.answering].some((response) => response.writableEnded && !response.writableFinished);
      if (!waiting || written !== connection.written) {
        connection.written = written;
        connection.stalledSince = waiting ? at : undefined;
        continue;
      }
      connection.stalledSince ??= at;
      if (at - connection.stalledSince >= UNREAD_AFTER_MS) close(socket, "unread");
    }
  }, SWEEP_MS).unref();
  server.once("close", () => clearInterval(sweep));
}
