// A TCP relay between the SDK and a real Verdict, to see and break the network
// between them: how many connections the client opens, and what happens when an
// answer is lost on the way back. It forwards bytes; it does not speak gRPC.
import { createServer, connect, type Server, type Socket } from "node:net";

export interface TcpProxy {
  address: string;
  /** Connections accepted since start. */
  readonly accepted: number;
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
  let swallowing = false;
  let dropped = 0;
  let waiters: { bytes: number; resolve: () => void }[] = [];

  const server: Server = createServer((client) => {
    accepted += 1;
    const upstream = connect(port, host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.on("data", (chunk: Buffer) => upstream.write(chunk));
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
