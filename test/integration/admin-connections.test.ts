// The admin listener's bounds on its connections (src/server/admin/server.ts), over real
// sockets at their fixed values: at most 64 open from one address, so that one client
// cannot take them all; at most 1,024 in all, the idle ones closed to let one more in
// (a kubelet probe is a new connection each time) and one more closed at once only when
// none is idle; and an idle connection closed 5 s after its answer. Clients come from
// addresses of their own in 127.0.0.0/8, which Linux answers on loopback.
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { FastifyInstance } from "fastify";
import { healthRoutes, startAdminServer, type AdminRoutes, type RunningAdmin } from "../../src/server/admin/index.js";
import type { ReadinessSource } from "../../src/server/readiness.js";
import { captureLog, type CapturedLog } from "../support/log.js";

/** The admin listener's bounds, which have no setting. */
const ADMIN_MAX = 1_024;
const PER_ADDRESS = 64;
const HEALTHZ = "GET /healthz HTTP/1.1\r\nHost: verdict\r\n\r\n";
const ALIVE = /^HTTP\/1\.1 200 [\s\S]*"status":"alive"/;

/** The n-th client address (127.0.0.2 on); the probe comes from 127.0.0.1. */
const clientAddress = (n: number) => `127.0.0.${n + 2}`;

const alive: ReadinessSource = { report: () => ({ ready: true, checks: {} }), watch: () => () => undefined };

interface Client {
  socket: Socket;
  received(): string;
  answers(): number;
  closed: Promise<void>;
  isClosed(): boolean;
}

function client(port: number, localAddress: string): Client {
  const socket = connect({ port, host: "127.0.0.1", localAddress });
  let received = "";
  let isClosed = false;
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (received += chunk));
  socket.on("error", () => undefined); // a connection closed at once may end in ECONNRESET
  const closed = new Promise<void>((resolve) =>
    socket.once("close", () => {
      isClosed = true;
      resolve();
    }),
  );
  return { socket, received: () => received, answers: () => received.match(/HTTP\/1\.1 200 /g)?.length ?? 0, closed, isClosed: () => isClosed };
}

/** "served" once `request` on a new connection from `from` is answered as `answer` says, "closed" when it closes first; rejects after 5 s. */
function ask(port: number, from: string, kept: Client[], request = HEALTHZ, answer = ALIVE): Promise<"served" | "closed"> {
  const c = client(port, from);
  kept.push(c);
  c.socket.write(request);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not answered within 5 s: ${c.received()}`)), 5_000);
    const settle = (outcome: "served" | "closed") => {
      clearTimeout(timer);
      resolve(outcome);
    };
    c.socket.on("data", () => {
      if (answer.test(c.received())) settle("served");
    });
    void c.closed.then(() => settle("closed"));
  });
}

/** `count` connections from each of `addresses` addresses, each with its request answered. */
async function hold(port: number, addresses: number, count: number, kept: Client[], request = HEALTHZ): Promise<void> {
  for (let n = 0; n < addresses; n++) {
    const answers = await Promise.all(Array.from({ length: count }, () => ask(port, clientAddress(n), kept, request)));
    expect(answers.filter((outcome) => outcome === "served")).toHaveLength(count);
  }
}

const refusals = (captured: CapturedLog, what: string) =>
  captured.lines().filter((line) => line["msg"] === `refused a connection: ${what} are open; it was closed at once`);

const started: RunningAdmin[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  for (const admin of started.splice(0)) await admin.close();
});

async function admin(captured: CapturedLog, routes: AdminRoutes[] = [], exclusive = false): Promise<RunningAdmin> {
  const running = await startAdminServer({ host: "127.0.0.1", port: 0, log: captured.log, routes: [healthRoutes(alive), ...routes], exclusive });
  started.push(running);
  return running;
}

describe("the admin listener's connections", () => {
  it("refuses a 65th connection from one address at once, counts it as per_address and logs it, and serves other addresses", async () => {
    const captured = captureLog();
    const listener = await admin(captured);
    const { port } = listener;
    await hold(port, 1, PER_ADDRESS, clients);
    expect(await ask(port, clientAddress(0), clients)).toBe("closed");
    expect(listener.connectionsRefused()).toEqual({ per_address: 1, total: 0 });
    expect(refusals(captured, "the admin listener's connections from one address")).toEqual([
      expect.objectContaining({ level: 40, times: 1, maxConnections: PER_ADDRESS, remoteAddress: clientAddress(0) }),
    ]);

    // another address, and the kubelet's, are served; the connections open are served as before
    expect(await ask(port, clientAddress(1), clients)).toBe("served");
    expect(await ask(port, "127.0.0.1", clients)).toBe("served");
    const first = clients[0]!;
    first.socket.write(HEALTHZ);
    await vi.waitFor(() => expect(first.answers()).toBe(2), { timeout: 5_000, interval: 20 });

    // one closes: once the listener has seen it go, that address has room for one
    clients[1]!.socket.destroy();
    await vi.waitFor(async () => expect(await ask(port, clientAddress(0), clients)).toBe("served"), { timeout: 5_000, interval: 50 });
  });

  it("answers a probe from another address while 1,024 idle keep-alive connections are held, closing the idle ones to make room", async () => {
    const captured = captureLog();
    const listener = await admin(captured);
    const { port } = listener;
    await hold(port, ADMIN_MAX / PER_ADDRESS, PER_ADDRESS, clients);
    const held = [...clients];
    // all still open (kept alive 5 s after their answer): the bound is reached
    expect(held.filter((c) => c.isClosed())).toHaveLength(0);

    const asked = performance.now();
    expect(await ask(port, "127.0.0.1", clients)).toBe("served");
    expect(performance.now() - asked).toBeLessThan(2_000);
    await vi.waitFor(() => expect(held.filter((c) => c.isClosed())).toHaveLength(ADMIN_MAX), { timeout: 5_000, interval: 20 });
    expect(listener.connectionsRefused()).toEqual({ per_address: 0, total: 0 });
    expect(refusals(captured, "the admin listener's connections")).toEqual([]);
  });

  it("closes one more connection at once when 1,024 are open and none is idle, counts it as total and logs it, and serves once they are answered", async () => {
    const captured = captureLog();
    let arrived = 0;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const holding: AdminRoutes = (app: FastifyInstance) => {
      app.get("/hold", async () => {
        arrived += 1;
        await released;
        return { status: "alive" };
      });
    };
    const listener = await admin(captured, [holding]);
    const { port } = listener;
    const request = "GET /hold HTTP/1.1\r\nHost: verdict\r\n\r\n";
    const answered: Promise<"served" | "closed">[] = [];
    for (let n = 0; n < ADMIN_MAX / PER_ADDRESS; n++) {
      for (let i = 0; i < PER_ADDRESS; i++) answered.push(ask(port, clientAddress(n), clients, request).catch(() => "closed" as const));
      await vi.waitFor(() => expect(arrived).toBe((n + 1) * PER_ADDRESS), { timeout: 5_000, interval: 10 });
    }

    expect(await ask(port, "127.0.0.1", clients)).toBe("closed");
    expect(listener.connectionsRefused()).toEqual({ per_address: 0, total: 1 });
    expect(refusals(captured, "the admin listener's connections")).toEqual([expect.objectContaining({ level: 40, times: 1, maxConnections: ADMIN_MAX })]);

    release();
    expect((await Promise.all(answered)).filter((outcome) => outcome === "served")).toHaveLength(ADMIN_MAX);
    expect(await ask(port, "127.0.0.1", clients)).toBe("served");
  });

  it("closes a connection left idle 5 s after its answer, not Fastify's 72 s", async () => {
    const { port } = await admin(captureLog());
    const kept: Client[] = [];
    expect(await ask(port, "127.0.0.1", kept)).toBe("served");
    clients.push(...kept);
    const answered = performance.now();
    expect(kept[0]!.received()).toMatch(/\r\nKeep-Alive: timeout=5\r\n/i);
    await Promise.race([kept[0]!.closed, new Promise((resolve) => setTimeout(resolve, 8_000))]);
    expect(kept[0]!.isClosed()).toBe(true);
    expect(performance.now() - answered).toBeGreaterThanOrEqual(4_500);
  });

  it("has no bound per address on a process's private listener, whose one client is its primary", async () => {
    const { port } = await admin(captureLog(), [], true);
    await hold(port, 1, PER_ADDRESS + 16, clients);
  });
});
