// gRPC calls no well-behaved client makes, over HTTP/2: a Check whose request is sent
// only in part and never ended (node:http2's client), and an HTTP/2 client written frame
// by frame (RFC 9113, headers as RFC 7541 literals) for what node:http2's client will
// not do: announce a stream window of 0 and never open it, so that the server can send
// headers but no answer's data.
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from "node:http2";
import { connect, type Socket } from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { API_KEY_METADATA } from "@verdict/sdk/wire";

export const CHECK_PATH = "/verdict.v1.PolicyDecisionService/Check";

/** A gRPC message's frame: its 5-byte prefix says `length` bytes follow; `sent` of them are. */
export function messagePart(length: number, sent: number): Buffer {
  const bytes = Buffer.alloc(5 + sent);
  bytes.writeUInt32BE(length, 1);
  return bytes;
}

export interface Ended {
  status: grpc.status | -1;
  message: string;
  afterMs: number;
}

/** A Check whose request is sent up to `bytes` and no further (no end of stream); resolves with the status it ends with. */
export function halfOpenCall(session: ClientHttp2Session, apiKey: string, bytes: Buffer): Promise<Ended> {
  const opened = Date.now();
  const stream: ClientHttp2Stream = session.request(
    { ":method": "POST", ":path": CHECK_PATH, "content-type": "application/grpc", te: "trailers", [API_KEY_METADATA]: apiKey },
    { endStream: false },
  );
  stream.on("error", () => undefined);
  stream.write(bytes);
  return new Promise((resolve) => {
    let headers: IncomingHttpHeaders = {};
    const settle = (more: IncomingHttpHeaders) => {
      headers = { ...headers, ...more };
      if (headers["grpc-status"] !== undefined)
        resolve({
          status: Number(headers["grpc-status"]) as grpc.status,
          message: decodeURIComponent(String(headers["grpc-message"] ?? "")),
          afterMs: Date.now() - opened,
        });
    };
    stream.on("response", settle);
    stream.on("trailers", settle);
    stream.on("close", () => resolve({ status: -1, message: "closed without a status", afterMs: Date.now() - opened }));
  });
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const FRAME = { DATA: 0, HEADERS: 1, SETTINGS: 4 } as const;
const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with a 7-bit prefix (RFC 7541 §5.1). */
function hpackInteger(value: number): Buffer {
  if (value < 127) return Buffer.from([value]);
  const bytes = [127];
  for (value -= 127; value >= 128; value = Math.floor(value / 128)) bytes.push((value % 128) + 128);
  bytes.push(value);
  return Buffer.from(bytes);
}

const hpackString = (text: string) => Buffer.concat([hpackInteger(Buffer.byteLength(text)), Buffer.from(text)]);

/** Each header as a literal without indexing, with a new name (RFC 7541 §6.2.2): nothing for the server to remember. */
function headerBlock(headers: Record<string, string>): Buffer {
  return Buffer.concat(Object.entries(headers).flatMap(([name, value]) => [Buffer.from([0]), hpackString(name), hpackString(value)]));
}

export interface UnreadingClient {
  socket: Socket;
  /** Resolves when the server has closed the connection, with when (Date.now()). */
  closed: Promise<number>;
  /** The calls the server has answered so far: with headers whose message it cannot send, or with a status alone (refused). */
  answered: { withMessage: number; refused: number };
}

/** Counts the server's HEADERS frames as they come: a status alone ends its stream (END_STREAM), an answer's headers do not. */
function countAnswers(socket: Socket, answered: UnreadingClient["answered"]): void {
  let pending = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
      if (pending[3] === FRAME.HEADERS) {
        if (((pending[4] ?? 0) & FLAG.END_STREAM) !== 0) answered.refused += 1;
        else answered.withMessage += 1;
      }
      pending = pending.subarray(9 + pending.readUIntBE(0, 3));
    }
  });
}

/**
 * Opens an HTTP/2 connection to `address` (host:port) that announces a stream window
 * of 0 and never opens it, and sends `calls` unary gRPC calls to `path`, each with
 * `message` (the serialised request) and `headers`. The server can answer each with
 * its headers, never with its message. Each call's request must fit in HTTP/2's
 * default window together with the others (65,535 bytes a connection).
 */
export async function unreadingClient(
  address: string,
  path: string,
  headers: Record<string, string>,
  message: Buffer,
  calls: number,
): Promise<UnreadingClient> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  const socket = connect(port, host);
  socket.on("error", () => undefined);
  const answered = { withMessage: 0, refused: 0 };
  countAnswers(socket, answered); // reads what the server sends: only HTTP/2's window is kept shut
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
  const spoke = new Promise((resolve) => socket.once("data", resolve));
  await new Promise((resolve) => socket.once("connect", resolve));
  const window = Buffer.alloc(6);
  window.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 0);
  window.writeUInt32BE(0, 2);
  socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0, window)]));
  await spoke; // the server's SETTINGS, acknowledged without reading them (their values change nothing here)
  socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0, Buffer.alloc(0)));
  const block = headerBlock({
    ":method": "POST",
    ":scheme": "http",
    ":path": path,
    ":authority": address,
    "content-type": "application/grpc",
    te: "trailers",
    ...headers,
  });
  const body = Buffer.concat([messagePart(message.length, 0), message]);
  const frames: Buffer[] = [];
  for (let call = 0; call < calls; call++) {
    const stream = 1 + 2 * call;
    frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, block), frame(FRAME.DATA, FLAG.END_STREAM, stream, body));
  }
  socket.write(Buffer.concat(frames));
  return { socket, closed, answered };
}
