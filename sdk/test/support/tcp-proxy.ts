// A TCP relay between the SDK and a real Verdict, to see and break the network
// between them: how many connections the client opens, and what happens when an
// answer is lost on the way back, and how many calls (HTTP/2 streams) the client
// started. It forwards bytes unchanged; it only reads the client's frame headers.
import { createServer, connect, type Server, type Socket } from "node:net";

export interface TcpProxy {
  address: string;
  /** Connections accepted since start. */
  readonly accepted: number;
  /** HTTP/2 streams the client opened (HEADERS frames): one per call attempt. */
  readonly streams: number;
  /** The streams of each connection, in the order they were accepted. */
  readonly streamsByConnection: readonly number[];
  /** From now on, bytes from Verdict to the client are dropped (the connection stays open). */
  swallowAnswers(): void;
  /** Resolves once at least `bytes` bytes from Verdict were dropped. */
  swallowed(bytes: number): Promise<void>;
  /** Closes every connection (as a failing network or load balancer would) and forwards normally again. */
  cut(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  const pairs = new Set<[Socket, Socket]>();
  let accepted = 0;
  let streams = 0;
  const byConnection: number[] = [];
  let swallowing = false;
  let dropped = 0;
  let waiters: { bytes: number; resolve: () => void }[] = [];

  const server: Server = createServer((client) => {
    const index = accepted;
    accepted += 1;
    byConnection.push(0);
    const upstream = connect(port, host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const frames = http2FrameCounter(() => {
      streams += 1;
      byConnection[index]! += 1;
    });
    client.on("data", (chunk: Buffer) => {
      frames(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!swallowing) {
        client.write(chunk);
        return;
      }
      dropped += chunk.length;
      waiters = waiters.filter((w) => (dropped >= w.bytes ? (w.resolve(), false) : true));
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no address");

  const proxy: TcpProxy = {
    address: `127.0.0.1:${address.port}`,
    get accepted() {
      return accepted;
    },
    get streams() {
      return streams;
    },
    get streamsByConnection() {
      return [...byConnection];
    },
    swallowAnswers() {
      swallowing = true;
      dropped = 0;
    },
    swallowed(bytes) {
      return dropped >= bytes ? Promise.resolve() : new Promise((resolve) => waiters.push({ bytes, resolve }));
    },
    cut() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
      swallowing = false;
    },
    close() {
      proxy.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

const PREFACE_LENGTH = 24; // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
const HEADERS = 0x1;

/** Reads a client's HTTP/2 byte stream and calls onHeaders for every HEADERS frame. */
function http2FrameCounter(onHeaders: () => void): (chunk: Buffer) => void {
  let buffered = Buffer.alloc(0);
  let prefaceSeen = false;
  return (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (!prefaceSeen) {
      if (buffered.length < PREFACE_LENGTH) return;
      buffered = buffered.subarray(PREFACE_LENGTH);
      prefaceSeen = true;
    }
    // frame header: length (24 bits), type, flags, stream id (32 bits)
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) return;
      if (buffered[3] === HEADERS) onHeaders();
      buffered = buffered.subarray(9 + length);
    }
  };
}
