// What each connection handed to grpc-js is held to beyond what grpc-js does itself:
// it must start speaking. A client that connects and sends nothing (or less than the
// HTTP/2 client preface and a SETTINGS frame) is never let go on Node 20 to 24:
// grpc-js's close at max_connection_age destroys its HTTP/2 session, but a session
// that never heard the preface does not close its socket, and destroying the socket
// does not either once the session holds its handle; the connection stayed open for
// as long as the client kept it, holding a place under max_connections. Such a
// connection is reset (a TCP RST, which does close it) after PREFACE_WAIT_MS.
import type { Duplex } from "node:stream";
import { Socket } from "node:net";
import type { CountedWarning } from "../../observability/index.js";

/** How long a new connection has to send the HTTP/2 client preface and SETTINGS (RFC 9113 §3.4). */
export const PREFACE_WAIT_MS = 10_000;
/**
 * "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (24 bytes) and a SETTINGS frame's header (9): the
 * least a client that speaks HTTP/2 has sent by then. With TLS, the ClientHello alone is
 * longer (the TLS handshake has its own bound, node's 120 s).
 */
export const PREFACE_BYTES = 33;

/** Resets `connection` when it has sent fewer than PREFACE_BYTES within PREFACE_WAIT_MS, counting it in `silent`. */
export function resetWhenSilent(connection: Duplex, silent: CountedWarning): void {
  if (!(connection instanceof Socket)) return;
  const timer = setTimeout(() => {
    if (connection.bytesRead >= PREFACE_BYTES) return;
    silent.count();
    connection.resetAndDestroy();
  }, PREFACE_WAIT_MS).unref();
  connection.once("close", () => clearTimeout(timer));
}
