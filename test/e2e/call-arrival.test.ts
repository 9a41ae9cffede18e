// A gRPC call's request has to arrive, on `verdict serve` at its defaults over real
// HTTP/2: a connection may have 1,000 calls in flight (max_concurrent_streams); a call
// whose request (its message and its end) has not arrived within 10 s of its headers
// (request_timeout_ms) is ended DEADLINE_EXCEEDED; and beyond 4,096 calls arriving at
// once in a process, one more is ended at once RESOURCE_EXHAUSTED. Until now such
// calls were kept for as long as their client liked, without bound on how many: one
// connection's 100,000 took a process from 89 to 584 MB.
import { connect, type ClientHttp2Session } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { writeServeConfig } from "../support/config.js";
import { TestClient } from "../support/grpc.js";
import { halfOpenCall, messagePart, type Ended } from "../support/http2-frames.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { scrape, valueOf } from "../support/metrics.js";
import { uniqueDatabaseName } from "../support/mongo.js";

const API_KEY = "call-arrival-key";

describe("verdict serve: a call's request has to arrive", () => {
  let issuer: TestIssuer;
  let serving: ServingVerdict;
  let client: TestClient;
  const sessions: ClientHttp2Session[] = [];

  const session = (): Promise<ClientHttp2Session> => {
    const opened = connect(`http://${serving.address}`);
    opened.on("error", () => undefined);
    sessions.push(opened);
    return new Promise((resolve) => opened.once("remoteSettings", () => resolve(opened)));
  };

  beforeAll(async () => {
    issuer = await createTestIssuer();
    const config = writeServeConfig("call-arrival", issuer, API_KEY, { processes: 1, mongodb_database: uniqueDatabaseName("call_arrival"), log_level: "info" });
    serving = await serveVerdict(["--config", config]);
    client = new TestClient(serving.address, API_KEY, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    for (const opened of sessions) opened.destroy();
    if (serving) await stopProcess(serving.child);
  });

  it("tells each client it may have 1,000 calls in flight on a connection", async () => {
    expect((await session()).remoteSettings.maxConcurrentStreams).toBe(1_000);
  });

  it("ends DEADLINE_EXCEEDED a call whose message, or whose end, has not arrived within 10 s of its headers, and decides the others meanwhile", async () => {
    const opened = await session();
    const partial = halfOpenCall(opened, API_KEY, messagePart(100, 10));
    const unended = halfOpenCall(opened, API_KEY, messagePart(0, 0)); // a whole (empty) message, and no end of stream
    const token = await issuer.token({ sub: "reader" });
    expect((await client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");

    for (const ended of await Promise.all([partial, unended])) {
      expect(ended.status).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(ended.message).toBe("the request did not arrive whole within 10 s of its headers; nothing was decided");
      expect(ended.afterMs).toBeGreaterThanOrEqual(9_500);
    }
    const warned = await serving.settledLines("ended a call whose request did not arrive whole within 10 s (request_timeout_ms)");
    expect(warned).toEqual([expect.objectContaining({ level: 40, times: 1 })]);
    expect(valueOf(await scrape(serving.adminUrl), "verdict_grpc_requests_cut_total", { reason: "request_timeout" })).toBe(2);
    expect((await client.check({ token, action: "invoices:read" })).decision).toBe("ALLOW");
  });

  it("ends RESOURCE_EXHAUSTED at once each call beyond 4,096 arriving in the process, and decides again once they are gone", async () => {
    const opened = await Promise.all([session(), session(), session(), session(), session()]);
    const started = Date.now();
    // 5 connections of 1,000 calls each, none of which sends its request whole
    const calls = opened.flatMap((each) => Array.from({ length: 1_000 }, () => halfOpenCall(each, API_KEY, messagePart(100, 10))));
    const refused: Ended[] = [];
    for (const call of calls) void call.then((ended) => refused.push(ended));
    await expect.poll(() => refused.length, { timeout: 8_000, interval: 100 }).toBe(904);
    expect(Date.now() - started).toBeLessThan(9_000); // not the 10 s bound: refused on arrival
    expect(refused.every((ended) => ended.status === grpc.status.RESOURCE_EXHAUSTED)).toBe(true);
    expect(refused[0]?.message).toBe("more requests are arriving than this process takes at once; nothing was decided; retry later");
    expect(valueOf(await scrape(serving.adminUrl), "verdict_grpc_requests_cut_total", { reason: "overloaded" })).toBe(904);

    for (const each of opened) each.destroy();
    const token = await issuer.token({ sub: "reader" });
    await expect.poll(async () => (await client.check({ token, action: "invoices:read" })).decision, { timeout: 5_000, interval: 100 }).toBe("ALLOW");
  });
});
