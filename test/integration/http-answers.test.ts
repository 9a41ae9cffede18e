// watchHttpAnswers (src/server/http-answers.ts) on a real Node HTTP server and real
// sockets: a connection with more than 32 requests unanswered at once is closed, and
// so is one whose client leaves an answer unread for a minute; a client that pipelines
// a few, or takes its time over a large answer, is served. The watch's clock runs 60
// times faster than the wall's here, so that a minute passes in about a second.
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MAX_PIPELINED, UNREAD_AFTER_MS, watchHttpAnswers, type HttpCloseReason } from "../../src/server/http-answers.js";
import { captureLog } from "../support/log.js";

const LARGE_BYTES = 64 * 1024 * 1024;
/** How much faster than the wall's the watch's clock runs. */
const SPEED = 60;
const large = Buffer.alloc(LARGE_BYTES, "x");
const captured = captureLog();
const closed: HttpCloseReason[] = [];
let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === "/large") return void response.end(large);
    response.end("ok");
  });
  watchHttpAnswers(server, { closed: (reason) => closed.push(reason), log: captured.log, listener: "test", now: () => performance.now() * SPEED });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A connection that counts the bytes and answers it receives, and when it closed. */
function client(): { socket: Socket; bytes(): number; answers(): number; closed: Promise<void> } {
  const socket = connect(port, "127.0.0.1");
  let bytes = 0;
  let text = "";
  socket.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    if (text.length < 1_000_000) text += chunk.toString("latin1");
  });
  socket.on("error", () => undefined);
  const closedPromise = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { socket, bytes: () => bytes, answers: () => text.match(/HTTP\/1\.1 200 /g)?.length ?? 0, closed: closedPromise };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`;

describe("requests piled up on one connection", () => {
  it("answers a client that pipelines as many as the bound", async () => {
    const c = client();
    c.socket.write(get("/").repeat(MAX_PIPELINED));
    await vi.waitFor(() => expect(c.answers()).toBe(MAX_PIPELINED), { timeout: 5_000, interval: 20 });
    expect(c.socket.destroyed).toBe(false);
    expect(closed).toEqual([]);
    c.socket.destroy();
  });

  it("closes a connection with more unanswered at once, counts it and logs it", async () => {
    const c = client();
    c.socket.write(get("/").repeat(500));
    await c.closed;
    expect(c.answers()).toBeLessThanOrEqual(MAX_PIPELINED);
    expect(closed).toEqual(["pipelined"]);
    expect(captured.lines().filter((line) => line["msg"] === `closed a connection with more than ${MAX_PIPELINED} requests unanswered at once`)).toEqual([
      expect.objectContaining({ level: 40, listener: "test", times: 1 }),
    ]);
    closed.length = 0;
  });
});

describe("answers left unread", () => {
  it("closes a connection whose client has not read an answer for a minute", async () => {
    const c = client();
    c.socket.pause();
    c.socket.write(get("/large"));
    const started = performance.now();
    await vi.waitFor(() => expect(closed).toEqual(["unread"]), { timeout: 10_000, interval: 20 });
    // a minute on the watch's clock, looked at once a second (of the wall's)
    expect((performance.now() - started) * SPEED).toBeGreaterThanOrEqual(UNREAD_AFTER_MS);
    // reading now, the client finds its connection reset, its answer cut
    c.socket.resume();
    await c.closed;
    expect(c.bytes()).toBeLessThan(LARGE_BYTES);
    expect(captured.lines().filter((line) => line["msg"] === "closed a connection whose client did not read its answers for 60 s")).toHaveLength(1);
    closed.length = 0;
  });

  it("leaves alone a client that takes its time over a large answer, for longer than a minute", async () => {
    const c = client();
    c.socket.pause();
    c.socket.write(get("/large"));
    // 1 MB every 250 ms of the wall (15 s of the watch's clock), for 3 minutes of it
    const burst = () =>
      new Promise<void>((resolve) => {
        const until = c.bytes() + 1024 * 1024;
        const read = () => {
          if (c.bytes() < until) return;
          c.socket.pause().off("data", read);
          resolve();
        };
        c.socket.on("data", read).resume();
      });
    const started = performance.now();
    while ((performance.now() - started) * SPEED < 3 * UNREAD_AFTER_MS) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      await burst();
    }
    expect(c.bytes()).toBeGreaterThan(0);
    expect(c.bytes()).toBeLessThan(LARGE_BYTES);
    expect(closed).toEqual([]);
    // and then the whole answer
    c.socket.resume();
    await vi.waitFor(() => expect(c.bytes()).toBeGreaterThan(LARGE_BYTES), { timeout: 10_000, interval: 20 });
    expect(c.socket.destroyed).toBe(false);
    expect(closed).toEqual([]);
    c.socket.destroy();
  });
});
