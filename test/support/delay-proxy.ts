// A TCP relay that holds every chunk for a while before passing it on, in both
// directions and in order: a slow network or a slow database server, between
// Verdict and MongoDB. It never changes a byte, and drops one only when told to lose
// a reply (the server's answer to a write it applied, cut off with the connection) or
// a request (a write the server never sees, cut off with the connection)
// (sdk/test/support/tcp-proxy.ts is its cousin that breaks the network between the
// SDK and Verdict instead).
import { connect, createServer, type Server, type Socket } from "node:net";

export interface DelayProxy {
  /** host:port to connect to instead of the target. */
  address: string;
  /** Each chunk, either way, is held this long from now on (0: passed on at once). */
  setDelay(ms: number): void;
  /**
   * The next chunk from the server that contains `marker` is dropped and its connection
   * closed, both ways: the server did what was asked, the client never hears of it.
   * Resolves once that has happened.
   */
  loseReply(marker: string): Promise<void>;
  /**
   * The next chunk from the client that contains `marker` (every one of them, when
   * several) is dropped and its connection closed, both ways: the server never sees
   * it. Resolves once that has happened.
   */
  loseRequest(marker: string | readonly string[]): Promise<void>;
  /** Resolves once the next chunk from the server that contains `marker` has been passed on to the client. */
  replyPassedOn(marker: string): Promise<void>;
  /** Bytes passed on, both ways, since start (a test can see that traffic went through it). */
  readonly forwarded: number;
  close(): Promise<void>;
}

export async function startDelayProxy(target: { host: string; port: number }): Promise<DelayProxy> {
  let delayMs = 0;
  let forwarded = 0;
  const sockets = new Set<Socket>();
  /** What to do with the next chunk from the server (or the client) that contains every one of `markers`. */
  let watching: { markers: Buffer[]; fromServer: boolean; lose: boolean; done: () => void } | undefined;

  /** Watches for the next chunk, from the server or the client, that contains `marker` (all of them); resolves once it was lost or passed on. */
  const watch = (marker: string | readonly string[], how: { fromServer: boolean; lose: boolean }) =>
    new Promise<void>((done) => (watching = { markers: (typeof marker === "string" ? [marker] : marker).map((m) => Buffer.from(m)), ...how, done }));

  /** Writes `from`'s chunks to `to`, each `delayMs` after it came, never overtaking an earlier one. */
  const relay = (from: Socket, to: Socket, fromServer: boolean) => {
    let lastDue = 0;
    from.on("data", (chunk: Buffer) => {
      let watched: (() => void) | undefined;
      if (watching?.fromServer === fromServer && watching.markers.every((marker) => chunk.includes(marker))) {
        watched = watching.done;
        if (watching.lose) {
          watching = undefined;
          from.destroy();
          to.destroy();
          watched();
          return;
        }
        watching = undefined;
      }
      const due = Math.max(Date.now() + delayMs, lastDue);
      lastDue = due;
      const pass = () => {
        forwarded += chunk.length;
        if (!to.destroyed) to.write(chunk);
        watched?.();
      };
      if (due <= Date.now()) pass();
      else setTimeout(pass, due - Date.now());
    });
  };

  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) sockets.add(socket);
    relay(client, upstream, false);
    relay(upstream, client, true);
    const end = () => {
      for (const socket of [client, upstream]) {
        socket.destroy();
        sockets.delete(socket);
      }
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("the delay proxy has no address");

  return {
    address: `127.0.0.1:${address.port}`,
    setDelay(ms) {
      delayMs = ms;
    },
    loseReply: (marker) => watch(marker, { fromServer: true, lose: true }),
    loseRequest: (marker) => watch(marker, { fromServer: false, lose: true }),
    replyPassedOn: (marker) => watch(marker, { fromServer: true, lose: false }),
    get forwarded() {
      return forwarded;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
