// The primary's gRPC listener (src/cluster/balancer.ts): real TCP connections to it,
// handed to stand-ins for the worker processes that record what they are sent.
import type { Worker } from "node:cluster";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { listenBalanced, type BalancedListener } from "../../src/cluster/balancer.js";
import { DEFAULT_MAX_CONNECTIONS } from "../../src/server/config.js";
import { captureLog, type CapturedLog } from "../support/log.js";

/** Every socket the stand-ins were sent (a real send closes the primary's copy; these are closed after each test). */
const handed: Socket[][] = [];

/** A worker that keeps every socket the primary sends it, as a process would. */
function fakeWorker(id: number) {
  const received: Socket[] = [];
  handed.push(received);
  const worker = {
    id,
    process: { pid: 1_000 + id },
    send(_message: unknown, socket: Socket, done: (error: Error | null) => void) {
      received.push(socket);
      done(null);
      return true;
    },
  };
  return { worker: worker as unknown as Worker, received };
}

let listener: BalancedListener | undefined;
const clients: Socket[] = [];
const servers: Server[] = [];

afterEach(async () => {
  for (const socket of [...clients.splice(0), ...handed.splice(0).flat()]) socket.destroy();
  await listener?.close();
  listener = undefined;
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

const listen = async (maxConnections = DEFAULT_MAX_CONNECTIONS, captured: CapturedLog = captureLog()) =>
  (listener = await listenBalanced({ host: "127.0.0.1", port: 0, maxConnections, log: captured.log }));
const open = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket)).once("error", reject);
    clients.push(socket);
  });
const openMany = (port: number, n: number) => Promise.all(Array.from({ length: n }, () => open(port)));
/** Resolves once the listener has closed the socket (it may have before the caller looks). */
const closedByListener = (socket: Socket | undefined) => new Promise<void>((resolve) => (socket?.closed ? resolve() : socket?.once("close", () => resolve())));

describe("the primary's gRPC listener", () => {
  it("hands each connection to the process with the fewest open, ties in turn", async () => {
    const l = await listen();
    const a = fakeWorker(1);
    const b = fakeWorker(2);
    l.add(a.worker);
    l.add(b.worker);
    await openMany(l.port, 4);
    await vi.waitFor(() => expect(a.received.length + b.received.length).toBe(4));
    expect([a.received.length, b.received.length]).toEqual([2, 2]);

    // a's two close: the next two both go to a.
    l.closed(a.worker);
    l.closed(a.worker);
    expect([...l.open().values()]).toEqual([0, 2]);
    await openMany(l.port, 2);
    await vi.waitFor(() => expect(a.received.length).toBe(4));
    expect(b.received).toHaveLength(2);
    expect([...l.open().values()]).toEqual([2, 2]);
  });

  it("holds connections that arrive before any process serves, and hands them over when one does", async () => {
    const l = await listen();
    await openMany(l.port, 3);
    const a = fakeWorker(1);
    l.add(a.worker);
    await vi.waitFor(() => expect(a.received).toHaveLength(3));
    expect(l.open().get(a.worker)).toBe(3);
  });

  it("sends nothing more to a process once it is removed (silent or stopping), and drops it once it exits", async () => {
    const l = await listen();
    const a = fakeWorker(1);
    const b = fakeWorker(2);
    l.add(a.worker);
    l.add(b.worker);
    l.remove(a.worker);
    await openMany(l.port, 3);
    await vi.waitFor(() => expect(b.received).toHaveLength(3));
    expect(a.received).toHaveLength(0);
    expect(l.open()).toEqual(
      new Map([
        [a.worker, 0],
        [b.worker, 3],
      ]),
    );
    l.forget(a.worker);
    expect([...l.open().keys()]).toEqual([b.worker]);
  });

  it("closes the connections still held when it closes", async () => {
    const l = await listen();
    const [socket] = await openMany(l.port, 1);
    const ended = new Promise<void>((resolve) => socket?.once("close", () => resolve()));
    await l.close();
    listener = undefined;
    await ended;
    expect(socket?.destroyed).toBe(true);
  });

  it("closes a connection beyond max_connections at once, counting those handed over and those held, and says so", async () => {
    const captured = captureLog();
    const l = await listen(3, captured);
    await openMany(l.port, 2); // held: no process serves yet
    const a = fakeWorker(1);
    l.add(a.worker);
    await vi.waitFor(() => expect(a.received).toHaveLength(2));
    await openMany(l.port, 1);
    await vi.waitFor(() => expect(a.received).toHaveLength(3));

    // a fourth and a fifth: three are open (handed over), so each is closed at once
    const [fourth, fifth] = await openMany(l.port, 2);
    await Promise.all([fourth, fifth].map((socket) => new Promise((resolve) => socket?.once("close", resolve))));
    expect(a.received).toHaveLength(3);
    const warnings = captured.lines().filter((line) => line["msg"] === "refused a connection: max_connections are open; it was closed at once");
    expect(warnings).toEqual([expect.objectContaining({ level: 40, maxConnections: 3, times: 1 })]); // the second is counted for the next line

    // one of a's closes: there is room for one more
    l.closed(a.worker);
    await openMany(l.port, 1);
    await vi.waitFor(() => expect(a.received).toHaveLength(4));
  });

  it("keeps counting a process's connections while it is out of rotation: a slow episode lets no more than max_connections in", async () => {
    const l = await listen(3);
    const a = fakeWorker(1);
    l.add(a.worker);
    await openMany(l.port, 3);
    await vi.waitFor(() => expect(a.received).toHaveLength(3));
    await closedByListener((await openMany(l.port, 1))[0]);

    // silent to the watchdog, then answering again: its three connections stayed open
    l.remove(a.worker);
    l.add(a.worker);
    const more = await openMany(l.port, 3);
    await vi.waitFor(() => expect(l.refused()).toBe(4));
    await Promise.all(more.map(closedByListener));
    expect(a.received).toHaveLength(3);
    expect(l.open()).toEqual(new Map([[a.worker, 3]]));

    // it exits: its connections closed with it, and a late word of one closing changes nothing
    l.forget(a.worker);
    l.closed(a.worker);
    expect(l.open()).toEqual(new Map());
    const b = fakeWorker(2);
    l.add(b.worker);
    await openMany(l.port, 3);
    await vi.waitFor(() => expect(b.received).toHaveLength(3));
    expect(l.refused()).toBe(4);
  });

  it("counts the connections held and handed while a process is out of rotation, and never counts below none", async () => {
    const l = await listen(3);
    const a = fakeWorker(1);
    l.add(a.worker);
    await openMany(l.port, 2);
    await vi.waitFor(() => expect(a.received).toHaveLength(2));

    // a is silent and no other serves: one more is held, and with a's two that is max_connections
    l.remove(a.worker);
    await openMany(l.port, 1);
    const [beyond] = await openMany(l.port, 1);
    await vi.waitFor(() => expect(l.refused()).toBe(1));
    await closedByListener(beyond);
    expect(a.received).toHaveLength(2);

    // a answers again: the held one is handed to it, on top of the two it kept
    l.add(a.worker);
    await vi.waitFor(() => expect(a.received).toHaveLength(3));
    expect(l.open().get(a.worker)).toBe(3);

    // more closes said than were handed (a repeated message): the count stops at none, and the bound still holds
    for (let i = 0; i < 5; i++) l.closed(a.worker);
    expect(l.open().get(a.worker)).toBe(0);
    await openMany(l.port, 3);
    await vi.waitFor(() => expect(a.received).toHaveLength(6));
    const [seventh] = await openMany(l.port, 1);
    await vi.waitFor(() => expect(l.refused()).toBe(2));
    await closedByListener(seventh);
  });

  it("refuses a port in use with listen_failed, saying so", async () => {
    const taken = createServer();
    servers.push(taken);
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    await expect(listenBalanced({ host: "127.0.0.1", port, maxConnections: DEFAULT_MAX_CONNECTIONS, log: captureLog().log })).rejects.toMatchObject({
      code: "listen_failed",
      message: expect.stringContaining("the address is already in use"),
    });
  });
});
