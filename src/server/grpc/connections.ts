// What each connection handed to grpc-js is held to beyond what grpc-js does itself:
// it must start speaking HTTP/2. A client that connects and sends nothing (or, over
// TLS, finishes its handshake and then sends nothing; or sends the preface and part
// of its SETTINGS) is never let go on Node 20 to 24: grpc-js's close at
// max_connection_age closes its HTTP/2 session, but a session that never had the
// client's SETTINGS does not close its socket, and destroying the socket does not
// either once the session holds its handle; the connection stayed open for as long as
// the client kept it, holding a place under max_connections (4,096 such connections
// over TLS kept every new client out). Such a connection is reset (a TCP RST, which
// does close it) after PREFACE_WAIT_MS.
import type { EventEmitter } from "node:events";
import type { ServerHttp2Session } from "node:http2";
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Server } from "@grpc/grpc-js";
import type { CountedWarning, Logger } from "../../observability/index.js";

/** How long a new connection has to finish its TLS handshake (when TLS) and send the HTTP/2 client preface and SETTINGS (RFC 9113 §3.4). */
export const PREFACE_WAIT_MS = 10_000;
/**
 * "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (24 bytes) and a SETTINGS frame's header (9): the
 * least a client that speaks HTTP/2 has sent by then; what is looked at when grpc-js's
 * sessions cannot be watched (see `injectorSessions`).
 */
export const PREFACE_BYTES = 33;

/**
 * Resets each connection handed in (`watch`) whose HTTP/2 session has not had the
 * client's SETTINGS within PREFACE_WAIT_MS, counting it in `silent`. `sessions` is the
 * HTTP/2 server grpc-js serves the connections with (its "session" events); without it,
 * a connection is reset when it has sent fewer than PREFACE_BYTES by then (which a
 * TLS handshake alone passes).
 */
export class PrefaceWatch {
  /** The connections handed in whose client has not sent its SETTINGS yet, by their peer's address and port. */
  private readonly waiting = new Map<string, Socket>();
  /** Whether a session's SETTINGS are seen (else a connection's bytes are counted). */
  private readonly watchesSessions: boolean;

  constructor(
    sessions: EventEmitter | undefined,
    private readonly silent: CountedWarning,
  ) {
    this.watchesSessions = sessions !== undefined;
    sessions?.on("session", (session: ServerHttp2Session) => {
      // over TLS the session's socket is the TLS socket over the one handed in: the same peer
      const peer = peerOf(session.socket);
      if (peer !== undefined) session.once("remoteSettings", () => this.waiting.delete(peer));
    });
  }

  watch(connection: Duplex): void {
    if (!(connection instanceof Socket)) return;
    const peer = peerOf(connection);
    if (peer === undefined) return;
    this.waiting.set(peer, connection);
    const timer = setTimeout(() => {
      const spoke = this.watchesSessions ? this.waiting.get(peer) !== connection : connection.bytesRead >= PREFACE_BYTES;
      this.waiting.delete(peer);
      if (spoke) return;
      this.silent.count();
      connection.resetAndDestroy();
    }, PREFACE_WAIT_MS).unref();
    connection.once("close", () => {
      clearTimeout(timer);
      if (this.waiting.get(peer) === connection) this.waiting.delete(peer);
    });
  }
}

function peerOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined } | undefined): string | undefined {
  return socket?.remoteAddress === undefined || socket.remotePort === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`;
}

/**
 * The HTTP/2 server grpc-js made for the connection injector just created on `server`,
 * whose "session" events say when a client has spoken (and whose "stream" events,
 * answers.ts, which answers are not read). grpc-js keeps it in a private Map (read on
 * 1.14.7, the version the lock file pins); when it is not there, undefined and a
 * warning: the preface is then judged by its bytes, as before, and unread answers are
 * not watched.
 */
export function injectorSessions(server: Server, log: Logger): EventEmitter | undefined {
  const servers: unknown = (server as unknown as { http2Servers?: unknown }).http2Servers;
  const latest: unknown = servers instanceof Map ? [...(servers as Map<unknown, unknown>).keys()].at(-1) : undefined;
  if (latest !== null && typeof latest === "object" && "on" in latest && typeof latest.on === "function") return latest as EventEmitter;
  log.warn(
    "grpc-js's HTTP/2 sessions cannot be watched (its version keeps them elsewhere): a connection that finishes its TLS handshake and then sends nothing is not reset, and one whose client does not read its answers is not closed",
  );
  return undefined;
}
