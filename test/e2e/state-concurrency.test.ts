// Limits that hold at machine speed: concurrent requests spread over three
// Verdict processes sharing one database, with the default configuration (the
// 50 ms state deadline included): every request of a burst is decided, first come
// first served, and exactly the limit is allowed.
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFixtureBundle } from "../support/bundles.js";
import { serveVerdict, stopProcess } from "../support/cli.js";
import { TestClient } from "../support/grpc.js";
import { callersConfig } from "../support/config.js";
import { createTestIssuer, type TestIssuer } from "../support/issuer.js";
import { mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const PROCESSES = 3;
const API_KEY = "concurrency-key";
let issuer: TestIssuer;
const children: ChildProcess[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  issuer = await createTestIssuer();
  const config = join(mkdtempSync(join(tmpdir(), "verdict-concurrency-")), "verdict.json");
  writeFileSync(
    config,
    JSON.stringify({
      listen: "127.0.0.1:0",
      ...callersConfig(issuer, API_KEY),
      bundle: await buildFixtureBundle("state-policy"),
      mongodb_uri: mongoUri(),
      mongodb_database: uniqueDatabaseName("concurrency"),
      log_level: "info",
    }),
  );
  const started = await Promise.all(Array.from({ length: PROCESSES }, () => serveVerdict(["--config", config])));
  for (const { child, address } of started) {
    children.push(child);
    clients.push(new TestClient(address, API_KEY));
  }
  expect(new Set(started.map((s) => s.address)).size).toBe(PROCESSES);
});

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(children.map(stopProcess));
});

/** n concurrent Checks, round-robin over the processes. */
function spread(n: number, request: (i: number) => Parameters<TestClient["check"]>[0]) {
  return Promise.all(Array.from({ length: n }, (_, i) => (clients[i % PROCESSES] as TestClient).check(request(i))));
}

const codes = (responses: { reasons: { code: string }[] }[]) => responses.map((r) => r.reasons[0]?.code ?? "none");

describe(`across ${PROCESSES} Verdict processes sharing one database`, () => {
  it("200 concurrent transfers of 100 under a daily limit of 1000 give exactly 10 allows", async () => {
    const token = await issuer.token({ sub: `user-${randomUUID()}` });
    const responses = await spread(200, () => ({ token, action: "transfer", context: { amount: 100 } }));
    const allowed = responses.filter((r) => r.decision === "ALLOW");
    expect(allowed).toHaveLength(10);
    expect(codes(responses.filter((r) => r.decision !== "ALLOW"))).toEqual(Array(190).fill("limit_exceeded"));
    expect(allowed.map((r) => r.obligations[0]?.total).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  });

  it("1,000 concurrent transfers of 1 under a daily limit of 1000 are all decided, and 1000 allowed; then the next is refused", async () => {
    // A daily limit of 1000 in the fixture data: amounts of 1 fill it exactly.
    const token = await issuer.token({ sub: `user-${randomUUID()}` });
    const responses = await spread(1_000, () => ({ token, action: "transfer", context: { amount: 1 } }));
    expect(codes(responses.filter((r) => r.decision !== "ALLOW"))).toEqual([]);
    const totals = responses.map((r) => r.obligations[0]?.total ?? 0).sort((a, b) => a - b);
    expect(totals).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1));
    const next = await (clients[0] as TestClient).check({ token, action: "transfer", context: { amount: 1 } });
    expect(next.reasons[0]?.code).toBe("limit_exceeded");
  });

  it("1,000 concurrent transfers of 100 under a daily limit of 1000 give exactly 10 allows, every other one limit_exceeded", async () => {
    const token = await issuer.token({ sub: `user-${randomUUID()}` });
    const responses = await spread(1_000, () => ({ token, action: "transfer", context: { amount: 100 } }));
    expect(responses.filter((r) => r.decision === "ALLOW")).toHaveLength(10);
    expect(codes(responses.filter((r) => r.decision !== "ALLOW"))).toEqual(Array(990).fill("limit_exceeded"));
  });

  it("100 concurrent uses of one single-use jti give exactly 1 allow", async () => {
    const token = await issuer.token({ jti: randomUUID() });
    const responses = await spread(100, () => ({ token, action: "approve" }));
    expect(responses.filter((r) => r.decision === "ALLOW")).toHaveLength(1);
    expect(codes(responses.filter((r) => r.decision !== "ALLOW"))).toEqual(Array(99).fill("token_replayed"));
  });

  it("a rate limit of 50 per minute allows exactly 50 of 80 concurrent calls", async () => {
    const token = await issuer.token({ client_id: `agent-${randomUUID()}` });
    const responses = await spread(80, () => ({ token, action: "ping" }));
    expect(responses.filter((r) => r.decision === "ALLOW")).toHaveLength(50);
    expect(codes(responses.filter((r) => r.decision !== "ALLOW"))).toEqual(Array(30).fill("rate_limited"));
  });

  it("a sliding-window limit of 300 allows exactly 3 of 60 concurrent reservations of 100", async () => {
    const token = await issuer.token({ sub: `user-${randomUUID()}` });
    const responses = await spread(60, () => ({ token, action: "transfer_sliding", context: { amount: 100 } }));
    expect(responses.filter((r) => r.decision === "ALLOW")).toHaveLength(3);
  });

  it("two obligations of one decision hold together under concurrency: never more than either limit", async () => {
    // per user 1000, per agent 500: the agent's limit binds first, and no user budget leaks
    const token = await issuer.token({ sub: `user-${randomUUID()}`, client_id: `agent-${randomUUID()}` });
    const responses = await spread(40, () => ({ token, action: "transfer_both", context: { amount: 100 } }));
    expect(responses.filter((r) => r.decision === "ALLOW")).toHaveLength(5);
    const check = await (clients[0] as TestClient).check({ token, action: "both_checked" });
    expect(check.reasons[0]?.message).toBe("500"); // the user's counter holds only the 5 allowed
  });
});
