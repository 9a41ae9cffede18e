// max_connections: `verdict serve` keeps at most that many gRPC connections open, in
// one process (its own listener) and over several (the primary's balancer); one more
// is closed at once, the open ones are served as before, and there is room again once
// one closes. The bound here is small so that a test can reach it; its default
// (4,096) is checked in test/unit/config.test.ts. And a connection that never starts
// speaking HTTP/2 does not keep its place: it is reset after 10 s, over TLS too (a
// handshake and then nothing).
import { connect, type ClientHttp2Session } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestCa, type TestCa } from "../support/certs.js";
import { serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { writeServeConfig } from "../support/config.js";
import { hostPort } from "../support/deploy.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { scrape, valueOf } from "../support/metrics.js";
import { uniqueDatabaseName } from "../support/mongo.js";

const API_KEY = "connections-key";
const MAX = 6;
const REFUSED = "refused a connection: max_connections are open; it was closed at once";
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** A SETTINGS frame's header announcing 6 bytes of payload, which never come. */
const SETTINGS_HEADER = Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0]);

/** An HTTP/2 connection: "served" once the server's SETTINGS arrive (grpc-js took it), "closed" when it is closed before. */
function open(address: string, sessions: ClientHttp2Session[]): Promise<"served" | "closed"> {
  const session = connect(`http://${address}`);
  sessions.push(session);
  session.on("error", () => undefined); // a connection closed at once may end in ECONNRESET
  return new Promise((resolve) => {
    session.once("remoteSettings", () => resolve("served"));
    session.once("close", () => resolve("closed"));
  });
}

describe.each([1, 2])("verdict serve with processes: %i and max_connections: 6", (processes) => {
  let issuer: TestIssuer;
  let serving: ServingVerdict;
  const sessions: ClientHttp2Session[] = [];
  let client: TestClient | undefined;

  beforeAll(async () => {
    issuer = await createTestIssuer();
    const config = writeServeConfig("connections", issuer, API_KEY, {
      processes,
      max_connections: MAX,
      mongodb_database: uniqueDatabaseName("connections"),
      log_level: "info",
    });
    serving = await serveVerdict(["--config", config]);
  });

  afterAll(async () => {
    client?.close();
    for (const session of sessions) session.destroy();
    if (serving) await stopProcess(serving.child);
  });

  it("serves the connections within the bound, closes one more at once, and has room again when one closes", async () => {
    const token = await issuer.token({ sub: "reader" });
    // a client of its own connection (channels to one address otherwise share theirs)
    client = new TestClient(serving.address, API_KEY, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    expect((await client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");
    for (let n = 1; n < MAX; n++) expect(await open(serving.address, sessions)).toBe("served");

    expect(await open(serving.address, sessions)).toBe("closed");
    expect(await open(serving.address, sessions)).toBe("closed");
    expect(await serving.settledLines(REFUSED)).toEqual([expect.objectContaining({ level: 40, maxConnections: MAX, times: 1 })]);
    expect(valueOf(await scrape(serving.adminUrl), "verdict_grpc_connections_refused_total")).toBe(2);

    // the connections open are served as before
    expect((await client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");

    // one closes: once Verdict has seen it go, there is room for one more
    sessions[0]?.close();
    await vi.waitFor(async () => expect(await open(serving.address, sessions)).toBe("served"), { timeout: 5_000, interval: 100 });
    expect((await client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");
  });

  it("resets a connection that sends nothing, only the HTTP/2 preface, or part of its SETTINGS, within 10 s, and keeps one that speaks HTTP/2", async () => {
    // the connections of the test before closed: once there is room again, one speaks HTTP/2 and stays
    client?.close();
    for (const session of sessions.splice(0)) session.destroy();
    await vi.waitFor(async () => expect(await open(serving.address, sessions)).toBe("served"), { timeout: 5_000, interval: 100 });
    const speaking = sessions[sessions.length - 1];

    const opened = Date.now();
    const closedAfter = (write?: Buffer) => closedWithin(netConnect(hostPort(serving.address)), "connect", opened, write);
    const waited = await Promise.all([closedAfter(), closedAfter(PREFACE), closedAfter(Buffer.concat([PREFACE, SETTINGS_HEADER]))]);
    // not closed for the bound (at once), but after the 10 s they had to start speaking
    for (const ms of waited) expect(ms).toBeGreaterThanOrEqual(9_500);
    expect(speaking?.destroyed).toBe(false);
    await expectResetsLogged(serving, processes);
  });
});

describe.each([1, 2])("verdict serve over TLS with processes: %i", (processes) => {
  let serving: ServingVerdict;
  let ca: TestCa;
  const sessions: ClientHttp2Session[] = [];

  beforeAll(async () => {
    const issuer = await createTestIssuer();
    ca = createTestCa();
    const server = ca.issue({ cn: "verdict", dnsNames: ["localhost"], ips: ["127.0.0.1"], server: true });
    const config = writeServeConfig("connections-tls", issuer, API_KEY, {
      processes,
      mongodb_database: uniqueDatabaseName("connections_tls"),
      log_level: "info",
      tls: { cert_file: server.certFile, key_file: server.keyFile },
    });
    serving = await serveVerdict(["--config", config]);
  });

  afterAll(async () => {
    for (const session of sessions) session.destroy();
    if (serving) await stopProcess(serving.child);
  });

  it("resets a connection that finishes its TLS handshake and then sends nothing, or only the HTTP/2 preface, within 10 s, and keeps one that speaks HTTP/2", async () => {
    const speaking = connect(`https://${serving.address}`, { ca: ca.certPem, servername: "localhost" });
    sessions.push(speaking);
    await new Promise((resolve) => speaking.once("remoteSettings", resolve));

    const opened = Date.now();
    const closedAfter = (write?: Buffer) =>
      closedWithin(
        tlsConnect({ ...hostPort(serving.address), ca: ca.certPem, servername: "localhost", ALPNProtocols: ["h2"] }),
        "secureConnect",
        opened,
        write,
      );
    const waited = await Promise.all([closedAfter(), closedAfter(PREFACE), closedAfter(Buffer.concat([PREFACE, SETTINGS_HEADER]))]);
    for (const ms of waited) expect(ms).toBeGreaterThanOrEqual(9_500);
    expect(speaking.destroyed).toBe(false);
    await expectResetsLogged(serving, processes);
  });
});

/** Milliseconds from `opened` until `socket` closed (it writes `write` once `ready`); rejects when still open after 20 s. */
function closedWithin(socket: Socket, ready: "connect" | "secureConnect", opened: number, write?: Buffer): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    socket.once(ready, () => {
      if (write !== undefined) socket.write(write);
    });
    socket.on("error", () => undefined); // the reset ends it in ECONNRESET
    socket.once("close", () => resolve(Date.now() - opened));
    setTimeout(() => reject(new Error("still open after 20 s")), 20_000).unref();
  });
}

/** Logged by the process that reset it: the first at once, a second in the same process on its next line. */
async function expectResetsLogged(serving: ServingVerdict, processes: number): Promise<void> {
  const resets = await serving.settledLines("reset a connection that sent no HTTP/2 preface and SETTINGS within 10 s");
  expect(resets.every((line) => line["level"] === 40 && line["times"] === 1)).toBe(true);
  expect(resets.length).toBeLessThanOrEqual(processes);
}
