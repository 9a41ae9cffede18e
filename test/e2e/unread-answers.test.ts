// A client that does not read its answers, on `verdict serve` at its defaults over
// real HTTP/2: its connection announces a stream window of 0 (test/support/http2-frames.ts),
// so each call is decided and answered but its answer never leaves the server. Such
// calls were kept until the connection's max_connection_age (330 s with its grace):
// 4,000 of them took a process from 97 to 197 MB. Now a connection is closed when an
// answer on it has waited 10 s to be read (or, for a call ended before its request
// arrived whole, for its client to end it), or when it holds the most of more than
// 1,024 unread answers in a process (src/server/grpc/answers.ts).
import { connect, type ClientHttp2Session } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { API_KEY_METADATA, PolicyDecisionServiceService } from "@verdict/sdk/wire";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { writeServeConfig } from "../support/config.js";
import { TestClient } from "../support/grpc.js";
import { CHECK_PATH, halfOpenCall, messagePart, unreadingClient, type Ended, type UnreadingClient } from "../support/http2-frames.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { scrape, valueOf } from "../support/metrics.js";
import { uniqueDatabaseName } from "../support/mongo.js";

const API_KEY = "unread-answers-key";
const CLOSED = "closed a connection whose client did not read its answers (one waited 10 s, or it held the most of more than 1024 unread in this process)";

describe.each([{ processes: 1 }, { processes: 2 }])("verdict serve with processes: $processes: a client that does not read its answers", ({ processes }) => {
  let issuer: TestIssuer;
  let serving: ServingVerdict;
  let client: TestClient;
  let message: Buffer;
  const unreading: UnreadingClient[] = [];
  const sessions: ClientHttp2Session[] = [];

  const open = async (calls: number): Promise<UnreadingClient> => {
    const opened = await unreadingClient(serving.address, CHECK_PATH, { [API_KEY_METADATA]: API_KEY }, message, calls);
    unreading.push(opened);
    return opened;
  };
  /** A call on its own connection whose request never arrives whole (part of its message, no end), and whose client keeps it open once it is ended. */
  const keptOpen = async (): Promise<{ ended: Promise<Ended>; closed: Promise<number> }> => {
    const session = connect(`http://${serving.address}`);
    session.on("error", () => undefined);
    sessions.push(session);
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    return {
      ended: halfOpenCall(session, API_KEY, messagePart(100, 1)),
      closed: new Promise((resolve) => session.once("close", () => resolve(Date.now()))),
    };
  };
  const allowed = async () => (await client.check({ token: await issuer.token({ sub: "reader" }), action: "invoices:read" })).decision;
  const closedFor = async (reason: string) => valueOf(await scrape(serving.adminUrl), "verdict_grpc_unread_answers_closed_total", { reason }) ?? 0;

  beforeAll(async () => {
    issuer = await createTestIssuer();
    const config = writeServeConfig("unread-answers", issuer, API_KEY, {
      processes,
      mongodb_database: uniqueDatabaseName("unread_answers"),
      log_level: "info",
    });
    serving = await serveVerdict(["--config", config]);
    client = new TestClient(serving.address, API_KEY, grpc.credentials.createInsecure());
    const token = await issuer.token({ sub: "reader" });
    message = PolicyDecisionServiceService.check.requestSerialize({
      token,
      action: "invoices:read",
      resource: { type: "invoice", id: "inv-1", attributes: {} },
      context: {},
      request_id: "",
      dry_run: false,
      explain: false,
      approval_id: "",
    });
  });

  afterAll(async () => {
    client?.close();
    for (const opened of unreading) opened.socket.destroy();
    for (const session of sessions) session.destroy();
    if (serving) await stopProcess(serving.child);
  });

  it("closes a connection whose client has not read an answer for 10 s, or kept a call open 10 s after it was ended, and serves a reading client meanwhile", async () => {
    const sent = Date.now();
    const stalled = await open(10);
    const kept = await keptOpen();
    expect(await allowed()).toBe("ALLOW");
    const closedAt = await stalled.closed;
    expect(closedAt - sent).toBeGreaterThanOrEqual(9_500);
    expect(closedAt - sent).toBeLessThan(15_000); // looked at once a second
    expect(await serving.settledLines(CLOSED)).toEqual([expect.objectContaining({ level: 40, times: 1 })]);
    expect(await allowed()).toBe("ALLOW");
    // ended DEADLINE_EXCEEDED at 10 s (its request never arrived whole), then kept open by its client for 10 s more
    const ended = await kept.ended;
    expect(ended.status).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(ended.afterMs).toBeGreaterThanOrEqual(9_500);
    expect((await kept.closed) - sent).toBeGreaterThanOrEqual(19_000);
    expect(await closedFor("waited")).toBe(2);
  });

  it("closes the connections holding the most unread answers once a process holds more than 1,024, without waiting 10 s", async () => {
    // 80 calls a connection (their requests fit in HTTP/2's first window), one connection's once the one before it was
    // answered (all at once, some would be refused by the policy's queue); each process holds 1,280, the connections spread evenly
    const connections = 16 * processes;
    const sent = Date.now();
    const stalled: UnreadingClient[] = [];
    for (let each = 0; each < connections; each++) {
      const opened = await open(80);
      await expect.poll(() => opened.answered.withMessage + opened.answered.refused, { timeout: 5_000, interval: 10 }).toBe(80);
      expect(opened.answered.refused).toBe(0);
      stalled.push(opened);
    }
    const closedAt: number[] = [];
    for (const each of stalled) void each.closed.then((at) => closedAt.push(at));
    // 1,280 − 4 × 80 = 960: four connections of each process close, the rest stay
    await expect.poll(() => closedAt.length, { timeout: 8_000, interval: 100 }).toBe(4 * processes);
    expect(Math.max(...closedAt) - sent).toBeLessThan(9_000);
    expect(await closedFor("most")).toBe(4 * processes);
    expect(await allowed()).toBe("ALLOW");
    for (const each of stalled) each.socket.destroy();
  });
});
