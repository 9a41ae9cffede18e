// What Verdict's listeners hold a client to beyond their frameworks' defaults: a
// bound on the connections open (each costs memory, and a client that opens them
// without end would take it all), optionally one per remote address (so that one
// client cannot take them all), and on an HTTP listener, a time its request has
// to arrive in (Fastify sets none: a client that sends its headers and then its body
// a byte a minute, or never, would keep its connection for good).
import type { ServerOptions } from "node:http";
import type { Server, Socket } from "node:net";
import type { ErrorCode } from "../errors/index.js";
import type { CountedWarning } from "../observability/index.js";

/** What `capConnections` holds a server to. */
export interface ConnectionBound {
  /** Connections open at once; one more is closed as soon as it is accepted. */
  maxConnections: number;
  /** Counts the connections refused for maxConnections. */
  refused: { inc(): void };
  /** Logs the refusals for maxConnections (cluster's `refusedConnections`: at most one line every 10 s). */
  warning: CountedWarning;
  /**
   * Connections open at once from one remote address; one more from it is closed as
   * soon as it is accepted (counted in its own `refused`, so that a metric can tell the
   * bounds apart, and logged in its own `warning` with the address), so that one client
   * cannot take all of maxConnections.
   */
  perAddress?: { maxConnections: number; refused: { inc(): void }; warning: CountedWarning };
  /**
   * Called when maxConnections are open, before one more is refused: may destroy open
   * connections (an HTTP server's idle keep-alive ones) so that the new one gets in.
   */
  makeRoom?: () => void;
}

/**
 * Keeps at most `maxConnections` of `server`'s connections open, and at most
 * `perAddress.maxConnections` of them from one address: one more is closed as soon as
 * it is accepted, before any other listener of the server sees it open (they see it
 * destroyed), and counted in its bound's `refused` and warning. At maxConnections, `makeRoom`
 * is asked first, and the new connection gets in if it destroyed some. Not Node's own
 * `maxConnections`: in a process of Node's cluster, a connection it refuses goes back to
 * the primary, which hands it to another process, which refuses it too, and so on
 * without end (two processes at their bound: the primary and both processes busy, 1 to
 * 1.6 s of CPU in 3 s, the connection neither served nor closed; Node 20).
 */
export function capConnections(server: Server, { maxConnections, refused, warning, perAddress, makeRoom }: ConnectionBound): void {
  const open = new Set<Socket>();
  const fromAddress = new Map<string, number>();
  const refuse = (socket: Socket, bound: Pick<ConnectionBound, "refused" | "warning">, detail?: Record<string, unknown>) => {
    socket.destroy();
    bound.refused.inc();
    bound.warning.count(detail);
  };
  server.prependListener("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "";
    const sameAddress = fromAddress.get(address) ?? 0;
    if (perAddress && sameAddress >= perAddress.maxConnections) {
      refuse(socket, perAddress, { remoteAddress: address });
      return;
    }
    if (open.size >= maxConnections && makeRoom) {
      makeRoom();
      // Those it destroyed are gone for this count, though their close comes later.
      for (const other of open) if (other.destroyed) open.delete(other);
    }
    if (open.size >= maxConnections) {
      refuse(socket, { refused, warning });
      return;
    }
    open.add(socket);
    fromAddress.set(address, sameAddress + 1);
    socket.once("close", () => {
      open.delete(socket);
      const left = (fromAddress.get(address) ?? 1) - 1;
      if (left === 0) fromAddress.delete(address);
      else fromAddress.set(address, left);
    });
  });
}

/** How often Node looks for requests past their time (its own default, 30 s, would let a 10 s bound run to 40). */
const TIMEOUT_CHECK_MS = 1_000;

/**
 * The options of an HTTP server whose requests have `requestTimeoutMs` from their first
 * byte to arrive whole, headers and body: later, the server answers 408 and closes the
 * connection (its clientError, see `clientErrorOf`). Fastify takes `requestTimeout` among
 * its own options as well, and sets none unless told.
 */
export function requestTimeoutOptions(requestTimeoutMs: number): Pick<ServerOptions, "requestTimeout" | "headersTimeout" | "connectionsCheckingInterval"> {
  return {
    requestTimeout: requestTimeoutMs,
    headersTimeout: requestTimeoutMs,
    connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, requestTimeoutMs),
  };
}

/** What an HTTP listener answers for a request its server refused before any route saw it. */
export interface ClientErrorAnswer {
  status: 400 | 408 | 431;
  code: Extract<ErrorCode, "invalid_request" | "request_timeout" | "headers_too_large">;
  message: string;
}

/** The answer to a server's clientError: its request came too slowly, its headers were too large, or it was not HTTP/1.1. */
export function clientErrorOf(error: Error & { code?: string }): ClientErrorAnswer {
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT")
    return { status: 408, code: "request_timeout", message: "the request did not arrive whole in time; the connection is closed" };
  if (error.code === "HPE_HEADER_OVERFLOW") return { status: 431, code: "headers_too_large", message: "the request's headers are too large" };
  return { status: 400, code: "invalid_request", message: "the request is not valid HTTP/1.1" };
}

/**
 * Answers a clientError with the listeners' JSON error body ({ error, message }, the
 * code stable) and closes the connection, as Node and Fastify do in their own words; a
 * connection already gone is left alone.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const { status, code, message } = clientErrorOf(error);
  const text = JSON.stringify({ error: code, message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
    );
  }
  socket.destroy();
}

const STATUS_TEXT: Record<ClientErrorAnswer["status"], string> = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" };
