// What the HTTP listeners hold a client to, on `verdict serve` over real sockets:
// the AuthZEN listener keeps at most authzen.max_connections open (every process
// together; small here so that a test reaches it, its default 4,096 is checked in
// test/unit/authzen-config.test.ts), and a request to it or to the admin listener has 10 s
// (authzen.request_timeout_ms's default; the admin listener's own) to arrive whole,
// headers and body, or is answered 408 request_timeout and its connection closed,
// rather than holding it for as long as its client trickles bytes; over TLS, the
// handshake has the same 10 s. The admin listener keeps at most 64 connections open
// from one address and 1,024 in all, closing idle ones to let a probe in (fixed bounds,
// reached here as they are, from addresses of 127.0.0.0/8, which Linux answers on loopback).
import { mkdtempSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { writeServeConfig } from "../support/config.js";
import { hostPort } from "../support/deploy.js";
import { createTestIssuer } from "../support/issuer.js";
import { scrape, valueOf } from "../support/metrics.js";
import { uniqueDatabaseName } from "../support/mongo.js";

const API_KEY = "http-bounds-key";
const MAX = 6;
const METADATA = "GET /.well-known/authzen-configuration HTTP/1.1\r\nHost: pdp\r\n\r\n";
const HEALTHZ = "GET /healthz HTTP/1.1\r\nHost: verdict\r\n\r\n";
/** The admin listener's bounds, which have no setting. */
const ADMIN_MAX = 1_024;
const ADMIN_PER_ADDRESS = 64;
/** The n-th client address of the admin listener's tests (127.0.0.2 on); the probes come from 127.0.0.1. */
const clientAddress = (n: number) => `127.0.0.${n + 2}`;

/** A raw connection to host:port (over TLS, trusting any certificate, when `tls`) and what came back on it. */
interface Raw {
  socket: Socket;
  received(): string;
  closed: Promise<number>;
}

function rawConnection(address: string, { tls = false, from }: { tls?: boolean; from?: string } = {}): Raw {
  let received = "";
  const opened = Date.now();
  const target = { ...hostPort(address), ...(from === undefined ? {} : { localAddress: from }) };
  const socket = tls ? tlsConnect({ ...target, rejectUnauthorized: false }) : connect(target);
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (received += chunk));
  socket.on("error", () => undefined); // a connection closed at once may end in ECONNRESET
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now() - opened)));
  return { socket, received: () => received, closed };
}

/**
 * "served" once `request` (AuthZEN's metadata unless told) was answered as `answer` says
 * on a new connection (from the address `from`, when given); "closed" when it closed
 * before; rejects when neither within 5 s.
 */
function openServed(
  address: string,
  kept: Raw[],
  request = METADATA,
  answer = /^HTTP\/1\.1 200 [\s\S]*access_evaluation_endpoint/,
  from?: string,
): Promise<"served" | "closed"> {
  const raw = rawConnection(address, from === undefined ? {} : { from });
  kept.push(raw);
  raw.socket.write(request);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not answered within 5 s: ${raw.received()}`)), 5_000);
    const settle = (outcome: "served" | "closed") => {
      clearTimeout(timer);
      resolve(outcome);
    };
    raw.socket.on("data", () => {
      if (answer.test(raw.received())) settle("served");
    });
    void raw.closed.then(() => settle("closed"));
  });
}

/** host:port of the AuthZEN listener, from its "authzen is serving" log line (so port 0 works). */
function authzenAddress(serving: ServingVerdict): string {
  const url = serving.logLines().find((line) => line["msg"] === "authzen is serving")?.["url"];
  return String(url).replace(/^https?:\/\//, "");
}

/** The status line and JSON body of the one answer on a raw connection. */
function answerOf(raw: Raw): { status: number; body: unknown } {
  const text = raw.received();
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), body: JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)) };
}

describe.each([1, 2])("verdict serve with processes: %i, AuthZEN's max_connections: 6", (processes) => {
  let serving: ServingVerdict;
  let authzen: string;
  const kept: Raw[] = [];

  beforeAll(async () => {
    const issuer = await createTestIssuer();
    const config = writeServeConfig("http-bounds", issuer, API_KEY, {
      processes,
      mongodb_database: uniqueDatabaseName("http_bounds"),
      log_level: "info",
      authzen: { listen: "127.0.0.1:0", insecure_plaintext: true, apis: [{ name: "invoices-api" }], max_connections: MAX },
    });
    serving = await serveVerdict(["--config", config]);
    authzen = authzenAddress(serving);
  });

  afterAll(async () => {
    for (const raw of kept) raw.socket.destroy();
    if (serving) await stopProcess(serving.child);
  });

  const healthz = (admin: string, into: Raw[], from: string) => openServed(admin, into, HEALTHZ, /^HTTP\/1\.1 200 /, from);

  // First: no other connection to the admin listener is open yet (fetch keeps its own, idle, a few seconds).
  it("answers a probe while 1,024 idle connections are held on the admin listener, closing the idle ones to make room", async () => {
    const admin = serving.adminUrl.replace("http://", "");
    const held: Raw[] = [];
    const stillOpen = () => held.filter((raw) => !raw.socket.destroyed && raw.socket.readyState === "open");
    try {
      // 64 from each of 16 addresses, in rounds within the listener's backlog, each with its answer: idle, kept alive
      for (let n = 0; n < ADMIN_MAX / ADMIN_PER_ADDRESS; n++) {
        const answers = await Promise.all(Array.from({ length: ADMIN_PER_ADDRESS }, () => healthz(admin, held, clientAddress(n))));
        expect(answers.filter((answer) => answer === "served")).toHaveLength(ADMIN_PER_ADDRESS);
      }
      // all still open (kept alive 5 s after their answer): the bound is reached
      expect(stillOpen()).toHaveLength(ADMIN_MAX);

      const probe: Raw[] = [];
      const asked = Date.now();
      expect(await healthz(admin, probe, "127.0.0.1")).toBe("served");
      expect(Date.now() - asked).toBeLessThan(2_000);
      probe[0]!.socket.destroy();
      await vi.waitFor(() => expect(stillOpen()).toHaveLength(0), { timeout: 5_000, interval: 20 });
    } finally {
      for (const raw of held) raw.socket.destroy();
    }
    const scraped = await scrape(serving.adminUrl);
    expect(valueOf(scraped, "verdict_admin_connections_refused_total", { reason: "total" })).toBe(0);
    expect(valueOf(scraped, "verdict_admin_connections_refused_total", { reason: "per_address" })).toBe(0);
  });

  it("keeps at most 64 connections open on the admin listener from one address, closes one more from it at once, and has room again when one closes", async () => {
    const admin = serving.adminUrl.replace("http://", "");
    const held: Raw[] = [];
    const refused = async (reason: string) => valueOf(await scrape(serving.adminUrl), "verdict_admin_connections_refused_total", { reason });
    const before = (await refused("per_address")) ?? 0;
    let closed = 0;
    try {
      const answers = await Promise.all(Array.from({ length: ADMIN_PER_ADDRESS }, () => healthz(admin, held, clientAddress(0))));
      expect(answers.filter((answer) => answer === "served")).toHaveLength(ADMIN_PER_ADDRESS);
      expect(await healthz(admin, held, clientAddress(0))).toBe("closed");
      closed += 1;
      // logged as it happens (the first at once), with the address
      await vi.waitFor(
        () => {
          const refusals = serving
            .logLines()
            .filter((line) => line["msg"] === "refused a connection: the admin listener's connections from one address are open; it was closed at once");
          expect(refusals).toEqual([expect.objectContaining({ level: 40, times: 1, maxConnections: ADMIN_PER_ADDRESS, remoteAddress: clientAddress(0) })]);
        },
        { timeout: 5_000, interval: 50 },
      );

      // the probes' address, and the connections open, are served as before
      expect(await healthz(admin, held, "127.0.0.1")).toBe("served");
      const first = held[0]!;
      first.socket.write(HEALTHZ);
      await vi.waitFor(() => expect(first.received().match(/HTTP\/1\.1 200 /g)).toHaveLength(2), { timeout: 5_000, interval: 20 });

      // one closes: once Verdict has seen it go, that address has room for one
      held[1]!.socket.destroy();
      await vi.waitFor(
        async () => {
          const answer = await healthz(admin, held, clientAddress(0));
          if (answer === "closed") closed += 1;
          expect(answer).toBe("served");
        },
        { timeout: 5_000, interval: 100 },
      );
    } finally {
      for (const raw of held) raw.socket.destroy();
    }
    // counted, every one, as the bound per address
    await vi.waitFor(async () => expect(await refused("per_address")).toBe(before + closed), { timeout: 5_000, interval: 100 });
    expect(await refused("total")).toBe(0);
  });

  it("serves the connections within the bound, closes one more at once, and has room again when they close", async () => {
    // one at a time: Node's cluster hands the processes connections in turn, each keeping its share
    for (let n = 0; n < MAX; n++) expect(await openServed(authzen, kept)).toBe("served");
    expect(await openServed(authzen, kept)).toBe("closed");
    expect(await openServed(authzen, kept)).toBe("closed");

    // logged by the process that closed it: the first at once, a second in the same process on its next line, 10 s on
    const refusals = await serving.settledLines("refused a connection: authzen.max_connections are open; it was closed at once");
    expect(refusals.length).toBeLessThanOrEqual(processes);
    expect(refusals.every((line) => line["level"] === 40 && line["times"] === 1 && line["maxConnections"] === MAX / processes)).toBe(true);
    expect(valueOf(await scrape(serving.adminUrl), "verdict_authzen_connections_refused_total")).toBe(2);

    // the connections open are served as before
    const first = kept[0]!;
    first.socket.write(METADATA);
    await vi.waitFor(() => expect(first.received().match(/HTTP\/1\.1 200 /g)).toHaveLength(2), { timeout: 5_000, interval: 20 });

    // they close: once Verdict has seen them go, there is room again
    for (const raw of kept.splice(0)) raw.socket.destroy();
    await vi.waitFor(async () => expect(await openServed(authzen, kept)).toBe("served"), { timeout: 5_000, interval: 100 });
  });

  it("answers 408 request_timeout to a request that has not arrived whole within 10 s, on both HTTP listeners, and serves others meanwhile", async () => {
    for (const raw of kept.splice(0)) raw.socket.destroy();
    const admin = serving.adminUrl.replace("http://", "");
    // a connection that sends nothing, a PEP's body that stops short of its length, and headers that never end though a byte comes every second
    const shortBody = rawConnection(authzen);
    shortBody.socket.write(
      `POST /access/v1/evaluation HTTP/1.1\r\nHost: pdp\r\nAuthorization: ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{"subject":`,
    );
    const silent = rawConnection(authzen);
    const trickling = rawConnection(authzen);
    trickling.socket.write("POST /access/v1/evaluation HTTP/1.1\r\nHost: pdp\r\nX-Slow: ");
    const adminSlow = rawConnection(admin);
    adminSlow.socket.write("GET /healthz HTTP/1.1\r\nHost: verdict\r\nX-Slow: ");
    const dripping = setInterval(() => {
      trickling.socket.write("a");
      adminSlow.socket.write("a");
    }, 1_000);
    kept.push(silent, shortBody, trickling, adminSlow);

    // meanwhile both listeners serve
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await openServed(authzen, kept)).toBe("served");
    expect((await fetch(`${serving.adminUrl}/healthz`)).status).toBe(200);

    try {
      const waited = await Promise.all([silent.closed, shortBody.closed, trickling.closed, adminSlow.closed]);
      // not before the 10 s they had
      for (const ms of waited) expect(ms).toBeGreaterThanOrEqual(9_500);
    } finally {
      clearInterval(dripping);
    }
    for (const raw of [silent, shortBody, trickling, adminSlow]) {
      expect(answerOf(raw)).toEqual({
        status: 408,
        body: { error: "request_timeout", message: "the request did not arrive whole in time; the connection is closed" },
      });
    }
  });

  it("answers 431 headers_too_large and 400 invalid_request in the listener's error shape, and keeps serving", async () => {
    const large = rawConnection(authzen);
    large.socket.write(`GET /.well-known/authzen-configuration HTTP/1.1\r\nHost: pdp\r\nX-Large: ${"a".repeat(20_000)}\r\n\r\n`);
    const garbage = rawConnection(authzen);
    garbage.socket.write("HELLO THERE\r\n\r\n");
    kept.push(large, garbage);
    await Promise.all([large.closed, garbage.closed]);
    expect(answerOf(large)).toEqual({ status: 431, body: { error: "headers_too_large", message: "the request's headers are too large" } });
    expect(answerOf(garbage)).toEqual({ status: 400, body: { error: "invalid_request", message: "the request is not valid HTTP/1.1" } });
    expect(await openServed(authzen, kept)).toBe("served");
  });

  it("closes a connection with more than 32 requests unanswered at once, on both HTTP listeners, counts it and keeps serving", async () => {
    for (const raw of kept.splice(0)) raw.socket.destroy();
    const listeners = [
      { listener: "authzen", address: authzen, request: METADATA, metric: "verdict_authzen_connections_closed_total" },
      { listener: "admin", address: serving.adminUrl.replace("http://", ""), request: HEALTHZ, metric: "verdict_admin_connections_closed_total" },
    ];
    for (const { listener, address, request, metric } of listeners) {
      // a client that waits for each answer, or pipelines a few, is served
      const few = rawConnection(address);
      few.socket.write(request.repeat(8));
      await vi.waitFor(() => expect(few.received().match(/HTTP\/1\.1 200 /g)).toHaveLength(8), { timeout: 5_000, interval: 20 });
      few.socket.destroy();

      const piled = rawConnection(address);
      piled.socket.write(request.repeat(500));
      await piled.closed;
      expect(piled.received().match(/HTTP\/1\.1 200 /g)?.length ?? 0).toBeLessThanOrEqual(32);
      await vi.waitFor(async () => expect(valueOf(await scrape(serving.adminUrl), metric, { reason: "pipelined" })).toBe(1), { timeout: 5_000, interval: 100 });
      const closings = serving
        .logLines()
        .filter((line) => line["msg"] === "closed a connection with more than 32 requests unanswered at once" && line["listener"] === listener);
      expect(closings).toEqual([expect.objectContaining({ level: 40, times: 1 })]);
    }
    // and serves the next
    expect(await openServed(authzen, kept)).toBe("served");
  });
});

describe("verdict serve with AuthZEN over TLS (a development certificate)", () => {
  let serving: ServingVerdict;
  let authzen: string;

  beforeAll(async () => {
    const issuer = await createTestIssuer();
    const config = writeServeConfig("http-bounds-tls", issuer, API_KEY, {
      processes: 1,
      mongodb_database: uniqueDatabaseName("http_bounds_tls"),
      log_level: "info",
      authzen: { listen: "127.0.0.1:0", dev_certificate: true, apis: [{ name: "invoices-api" }] },
    });
    serving = await serveVerdict(["--config", config], { VERDICT_HOME: mkdtempSync(join(tmpdir(), "verdict-http-bounds-home-")) });
    authzen = authzenAddress(serving);
  });

  afterAll(async () => {
    if (serving) await stopProcess(serving.child);
  });

  it("closes a connection that has not finished its TLS handshake within 10 s, and answers 408 to one that then sends nothing", async () => {
    const noHandshake = rawConnection(authzen);
    const handshaken = rawConnection(authzen, { tls: true });
    try {
      await new Promise((resolve) => handshaken.socket.once("secureConnect", resolve));
      const [plainAfter, tlsAfter] = await Promise.all([noHandshake.closed, handshaken.closed]);
      expect(plainAfter).toBeGreaterThanOrEqual(9_500);
      expect(tlsAfter).toBeGreaterThanOrEqual(9_500);
      expect(noHandshake.received()).toBe("");
      expect(handshaken.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*"error":"request_timeout"/);
    } finally {
      noHandshake.socket.destroy();
      handshaken.socket.destroy();
    }
  });
});
