// PrefaceWatch (src/server/grpc/connections.ts): a connection handed to grpc-js is
// reset unless its client sends the HTTP/2 preface and its SETTINGS within 10 s, seen
// on its HTTP/2 session where grpc-js's HTTP/2 server can be watched, else judged by
// its bytes. Real sockets on the loopback; the 10 s on fake timers. Over `verdict
// serve`, with and without TLS: test/e2e/connections.test.ts.
import { once } from "node:events";
import { connect as http2Connect, createServer as createHttp2Server, type ClientHttp2Session } from "node:http2";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CountedWarning } from "../../src/observability/index.js";
import { injectorSessions, PREFACE_WAIT_MS, PrefaceWatch } from "../../src/server/grpc/connections.js";
import { captureLog } from "../support/log.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const SETTINGS_HEADER = Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0]);
const RESET = "reset a connection that sent no HTTP/2 preface and SETTINGS within 10 s";

let listener: Server;
let port: number;
/** What is done with each connection the listener accepts, by the test. */
let handed: (socket: Socket) => void;
/** The server's end of each connection, by the client's port. */
const serverEnds = new Map<number, Socket>();
const clients: (Socket | ClientHttp2Session)[] = [];

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  listener = createServer((socket) => {
    serverEnds.set(socket.remotePort ?? 0, socket);
    handed(socket);
  });
  listener.listen(0, "127.0.0.1");
  await once(listener, "listening");
  port = (listener.address() as AddressInfo).port;
});

afterEach(() => {
  vi.useRealTimers();
  for (const client of clients.splice(0)) client.destroy();
  for (const socket of serverEnds.values()) socket.destroy();
  serverEnds.clear();
  listener.close();
});

/** A TCP client that writes `bytes` once connected; its server end once the listener has it. */
async function rawClient(bytes?: Buffer): Promise<{ client: Socket; server: Socket }> {
  const client = connect(port, "127.0.0.1");
  clients.push(client);
  client.on("error", () => undefined); // a reset ends it in ECONNRESET
  await once(client, "connect");
  if (bytes) client.write(bytes);
  const server = await until(() => serverEnds.get(client.localPort ?? -1));
  if (bytes) await until(() => server.bytesRead >= bytes.length || undefined);
  return { client, server };
}

/** Resolves when `socket` has closed (a reset ends it in ECONNRESET first, which events.once would reject on). */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve())));
}

/** Polls `read` on the event loop (timers are fake) until it gives something. */
async function until<T>(read: () => T | undefined): Promise<T> {
  for (let turn = 0; turn < 10_000; turn++) {
    const value = read();
    if (value !== undefined && value !== false) return value;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error("never came");
}

describe("PrefaceWatch on an HTTP/2 server's sessions", () => {
  it("resets a connection silent, or with the preface and part of its SETTINGS, after 10 s, and keeps one whose client sent its SETTINGS", async () => {
    const http2 = createHttp2Server();
    const captured = captureLog();
    const { log } = captured;
    const watch = new PrefaceWatch(http2, new CountedWarning(log, RESET));
    const settled: Promise<void>[] = [];
    http2.on("session", (session) => settled.push(once(session, "remoteSettings").then(() => undefined)));
    handed = (socket) => {
      watch.watch(socket);
      http2.emit("connection", socket);
    };

    const silent = await rawClient();
    const partial = await rawClient(Buffer.concat([PREFACE, SETTINGS_HEADER]));
    const speaking = http2Connect(`http://127.0.0.1:${port}`);
    clients.push(speaking);
    // a session for each; the speaking client's has its SETTINGS
    await until(() => settled.length === 3 || undefined);
    await Promise.race(settled);

    vi.advanceTimersByTime(PREFACE_WAIT_MS - 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(silent.server.destroyed).toBe(false);

    vi.advanceTimersByTime(1);
    await Promise.all([closed(silent.client), closed(partial.client)]);
    expect(speaking.destroyed).toBe(false);
    expect(speaking.closed).toBe(false);
    // the first at once, the second counted for the next line
    expect(captured.lines().filter((line) => line["msg"] === RESET)).toEqual([expect.objectContaining({ level: 40, times: 1 })]);
  });
});

describe("PrefaceWatch without sessions to watch", () => {
  it("resets a connection that has sent fewer than 33 bytes after 10 s, and keeps one that has sent them", async () => {
    const { log } = captureLog();
    const watch = new PrefaceWatch(undefined, new CountedWarning(log, RESET));
    handed = (socket) => {
      watch.watch(socket);
      socket.resume();
    };
    const short = await rawClient(PREFACE);
    const enough = await rawClient(Buffer.concat([PREFACE, SETTINGS_HEADER]));

    vi.advanceTimersByTime(PREFACE_WAIT_MS);
    await closed(short.client);
    expect(enough.server.destroyed).toBe(false);
  });
});

describe("injectorSessions", () => {
  it("finds the HTTP/2 server grpc-js made for a connection injector, whose sessions are the injected connections'", async () => {
    const server = new grpc.Server();
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const captured = captureLog();
    const { log } = captured;
    const sessions = injectorSessions(server, log);
    expect(sessions).toBeDefined();
    const session = new Promise((resolve) => sessions?.once("session", resolve));
    handed = (socket) => injector.injectConnection(socket);
    vi.useRealTimers();
    const client = http2Connect(`http://127.0.0.1:${port}`);
    clients.push(client);
    await session;
    expect(captured.lines()).toEqual([]);
    server.forceShutdown();
  });

  it("warns, and gives nothing, where grpc-js keeps no HTTP/2 servers where it looks", () => {
    const captured = captureLog();
    const { log } = captured;
    expect(injectorSessions({} as grpc.Server, log)).toBeUndefined();
    expect(captured.lines()).toEqual([
      expect.objectContaining({ level: 40, msg: expect.stringContaining("grpc-js's HTTP/2 sessions cannot be watched") as string }),
    ]);
  });
});
