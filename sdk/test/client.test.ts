// The SDK client against a real Verdict over gRPC: typed decisions, typed errors,
// one kept connection, and no retry of a Check that may have been decided.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerdictClient, DEFAULT_CONNECTIONS, MAX_CONNECTIONS, VerdictError, type Decision, type VerdictClient } from "@verdict/sdk";
import { createTestCa } from "../../test/support/certs.js";
import { TEST_AUDIENCE, TEST_SCOPES } from "../../test/support/issuer.js";
import { buildFixtureBundle } from "../../test/support/bundles.js";
import { closedAddress, startSdkVerdict, type SdkTestVerdict } from "./support/verdict.js";
import { startTcpProxy } from "./support/tcp-proxy.js";

let t: SdkTestVerdict;
let client: VerdictClient;

beforeAll(async () => {
  t = await startSdkVerdict();
  client = t.sdkClient();
});
afterAll(async () => {
  await t?.stop();
});

const invoice = { type: "invoice", id: "inv-1" };

async function rejection(promise: Promise<unknown>): Promise<VerdictError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(VerdictError);
    return error as VerdictError;
  }
  throw new Error("expected a VerdictError, got a result");
}

function expectDecision<D extends Decision["decision"]>(decision: Decision, kind: D): asserts decision is Extract<Decision, { decision: D }> {
  expect(decision.decision).toBe(kind);
}

describe("check", () => {
  it("answers ALLOW with the verified principal, a decision id and the policy revision", async () => {
    const token = await t.issuer.token({ sub: "alice", client_id: "agent-1", client_type: "ai-agent", act: { sub: "agent-1" } });
    const decision = await client.check({ token, action: "invoices:read", resource: invoice });
    expectDecision(decision, "ALLOW");
    expect(decision.principal).toMatchObject({
      subject: "alice",
      clientId: "agent-1",
      clientType: "ai-agent",
      scopes: ["invoices:read"],
      actors: [{ subject: "agent-1" }],
    });
    expect(decision.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(decision.policyRevision).toBe(t.verdict.policyRevision);
  });

  it("answers DENY with an insufficient_scope challenge naming the scope", async () => {
    const decision = await client.check({ token: await t.issuer.token(), action: "invoices:dispute", resource: invoice });
    expectDecision(decision, "DENY");
    expect(decision.challenge).toMatchObject({ error: "insufficient_scope", scopes: ["invoices:write"] });
    expect(decision.reasons.map((r) => r.code)).toEqual(["insufficient_scope"]);
  });

  it("answers STEP_UP with acr_values, and max_age when the policy sets one", async () => {
    const token = await t.issuer.token({ scope: "invoices:write" });
    const dispute = await client.check({ token, action: "invoices:dispute", resource: invoice });
    expectDecision(dispute, "STEP_UP");
    expect(dispute.challenge).toEqual({ error: "insufficient_user_authentication", acrValues: ["mfa"], description: expect.any(String) });
    const approve = await client.check({ token, action: "invoices:approve", resource: invoice });
    expectDecision(approve, "STEP_UP");
    expect(approve.challenge).toMatchObject({ error: "insufficient_user_authentication", maxAge: 300 });
  });

  it("answers DENY with an invalid_token challenge and no principal for a token that does not verify", async () => {
    const decision = await client.check({ token: (await t.issuer.token()).slice(0, -4) + "AAAA", action: "invoices:read", resource: invoice });
    expectDecision(decision, "DENY");
    expect(decision.challenge?.error).toBe("invalid_token");
    expect(decision.reasons[0]?.code).toBe("signature_invalid");
    expect(decision.principal).toBeUndefined();
  });

  it("sends the context as JSON the policy reads (a reservation of context.amount)", async () => {
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" });
    const decision = await client.check({
      token,
      action: "payments:transfer",
      resource: { type: "account", id: "acc-1" },
      context: { amount: 400, memo: { note: "rent" } },
    });
    expectDecision(decision, "ALLOW");
    expect(decision.obligations).toEqual([expect.objectContaining({ type: "reserve", amount: 400, limit: 1000, total: 400 })]);
  });

  it("refuses a context that is not JSON before calling, as verdict_invalid_argument", async () => {
    const error = await rejection(client.check({ token: await t.issuer.token(), action: "invoices:read", resource: invoice, context: { n: Number.NaN } }));
    expect(error.code).toBe("verdict_invalid_argument");
  });

  it("reports a request Verdict refuses as malformed as verdict_invalid_argument", async () => {
    const error = await rejection(client.check({ token: await t.issuer.token(), action: "not an action!", resource: invoice }));
    expect(error).toMatchObject({ code: "verdict_invalid_argument", grpcStatus: "INVALID_ARGUMENT" });
  });
});

describe("checkBatch", () => {
  it("returns one result per item, in order: decisions and an item's own error", async () => {
    const token = await t.issuer.token({ scope: "invoices:read" });
    const results = await client.checkBatch({
      token,
      items: [
        { action: "invoices:read", resource: invoice },
        { action: "invoices:dispute", resource: invoice },
        { action: "bad action!", resource: invoice },
      ],
    });
    expect(results.map((r) => (r.ok ? r.decision.decision : r.error.code))).toEqual(["ALLOW", "DENY", "invalid_argument"]);
  });
});

describe("release", () => {
  it("gives a reservation back once, then answers already_released", async () => {
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" });
    const transfer = (amount: number) => client.check({ token, action: "payments:transfer", resource: { type: "account", id: "a" }, context: { amount } });
    const first = await transfer(900);
    expectDecision(first, "ALLOW");
    expect((await transfer(500)).decision).toBe("DENY");
    expect(await client.release(first.decisionId)).toMatchObject({ status: "released", released: [expect.objectContaining({ type: "reserve", amount: 900 })] });
    expect(await client.release(first.decisionId)).toEqual({ status: "already_released", released: [] });
    expect((await transfer(500)).decision).toBe("ALLOW");
  });

  it("answers unknown_decision for a decision id Verdict never gave", async () => {
    expect((await client.release(randomUUID())).status).toBe("unknown_decision");
  });
});

describe("failing closed", () => {
  it("reports an unreachable Verdict as verdict_unavailable, quickly", async () => {
    const down = createVerdictClient({ address: await closedAddress(), tls: false, credential: { apiKey: "k" }, deadlineMs: 5_000 });
    const started = Date.now();
    const error = await rejection(down.check({ token: "t", action: "invoices:read", resource: invoice }));
    expect(error).toMatchObject({ code: "verdict_unavailable", grpcStatus: "UNAVAILABLE" });
    expect(Date.now() - started).toBeLessThan(4_000);
    down.close();
  });

  it("reports an answer that does not come within the deadline as verdict_deadline_exceeded", async () => {
    const proxy = await startTcpProxy(t.address);
    const slow = t.sdkClient({ address: proxy.address, deadlineMs: 300 });
    const token = await t.issuer.token();
    expect((await slow.check({ token, action: "invoices:read", resource: invoice })).decision).toBe("ALLOW");
    proxy.swallowAnswers();
    const started = Date.now();
    const error = await rejection(slow.check({ token, action: "invoices:read", resource: invoice }));
    expect(error.code).toBe("verdict_deadline_exceeded");
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await proxy.close();
  });

  it("reports a key Verdict does not know as verdict_unauthenticated, never a decision", async () => {
    const stranger = t.sdkClient({ credential: { apiKey: "vdk_not_registered" } });
    const error = await rejection(stranger.check({ token: await t.issuer.token(), action: "invoices:read", resource: invoice }));
    expect(error.code).toBe("verdict_unauthenticated");
  });

  it("reports a call an overloaded Verdict refused as verdict_unavailable, with how long it asked to wait", async () => {
    // A policy whose every decision costs a fraction of a millisecond, and 100 batches of 100 at once: more
    // evaluations than the 8,192 that may wait, so the last are refused whole on arrival (nothing decided).
    const slow = await startSdkVerdict({ config: { bundle: await buildFixtureBundle("slow-policy") } });
    try {
      const flooding = slow.sdkClient();
      const token = await slow.issuer.token({ scope: "invoices:read" });
      const items = Array.from({ length: 100 }, () => ({ action: "slow", resource: invoice }));
      const outcomes = await Promise.all(Array.from({ length: 100 }, () => flooding.checkBatch({ token, items }).catch((error: unknown) => error)));
      const refused = outcomes.filter((outcome) => outcome instanceof VerdictError);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.length).toBeLessThan(outcomes.length);
      // RESOURCE_EXHAUSTED with the pushback of the policy queue's bound in time (5 s) and up to half as much
      // again: the 503's Retry-After.
      for (const error of refused) {
        expect(error).toMatchObject({ code: "verdict_unavailable", grpcStatus: "RESOURCE_EXHAUSTED" });
        expect(error.retryAfterMs).toBeGreaterThanOrEqual(5_000);
        expect(error.retryAfterMs).toBeLessThanOrEqual(7_500);
      }
    } finally {
      await slow.stop();
    }
  });

  it("rejects calls after close with verdict_client_closed", async () => {
    const closing = t.sdkClient();
    closing.close();
    const error = await rejection(closing.check({ token: await t.issuer.token(), action: "invoices:read", resource: invoice }));
    expect(error.code).toBe("verdict_client_closed");
  });
});

describe("connections and retries", () => {
  it("keeps two connections by default and spreads calls over them, the one with fewer calls in flight first", async () => {
    const proxy = await startTcpProxy(t.address);
    const counted = t.sdkClient({ address: proxy.address });
    const token = await t.issuer.token();
    for (let i = 0; i < 6; i++) expect((await counted.check({ token, action: "invoices:read", resource: invoice })).decision).toBe("ALLOW");
    const parallel = await Promise.all(Array.from({ length: 20 }, () => counted.check({ token, action: "invoices:read", resource: invoice })));
    expect(parallel.every((d) => d.decision === "ALLOW")).toBe(true);
    expect(proxy.accepted).toBe(DEFAULT_CONNECTIONS);
    expect(proxy.streamsByConnection).toEqual([13, 13]);
    counted.close();
    await proxy.close();
  });

  it("keeps as many connections as it is told, from one to MAX_CONNECTIONS", async () => {
    for (const connections of [1, 3]) {
      const proxy = await startTcpProxy(t.address);
      const counted = t.sdkClient({ address: proxy.address, connections });
      const token = await t.issuer.token();
      const decisions = await Promise.all(Array.from({ length: 12 }, () => counted.check({ token, action: "invoices:read", resource: invoice })));
      expect(decisions.every((d) => d.decision === "ALLOW")).toBe(true);
      expect(proxy.accepted).toBe(connections);
      expect(proxy.streamsByConnection).toEqual(Array.from({ length: connections }, () => 12 / connections));
      counted.close();
      await proxy.close();
    }
    for (const connections of [0, 1.5, MAX_CONNECTIONS + 1]) {
      expect(() => t.sdkClient({ connections })).toThrow(expect.objectContaining({ code: "verdict_invalid_options" }));
    }
  });

  it("never resends a Check whose answer was lost: its reservation is made exactly once", async () => {
    const proxy = await startTcpProxy(t.address);
    const lossy = t.sdkClient({ address: proxy.address, deadlineMs: 10_000 });
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" });
    const transfer = (c: VerdictClient, amount: number) =>
      c.check({ token, action: "payments:transfer", resource: { type: "account", id: "a" }, context: { amount } });
    // warm both connections, so that the transfer's goes through the proxy like the others
    const warm = await Promise.all([0, 1].map(() => lossy.check({ token, action: "invoices:read", resource: invoice })));
    expect(warm.map((d) => d.decision)).toEqual(["DENY", "DENY"]);
    expect(proxy.accepted).toBe(DEFAULT_CONNECTIONS);

    proxy.swallowAnswers();
    const streamsBefore = proxy.streams;
    const lost = transfer(lossy, 100);
    await proxy.swallowed(100); // Verdict decided and answered; the answer is dropped on the way
    proxy.cut();
    expect((await rejection(lost)).code).toBe("verdict_unavailable");
    expect(proxy.streams - streamsBefore).toBe(1);

    // Had the client sent it again (through the proxy, which forwards again), 200 would be reserved.
    const next = await transfer(client, 1);
    expectDecision(next, "ALLOW");
    expect(next.obligations[0]?.total).toBe(101);
    await proxy.close();
  });

  it("reconnects on the next call after the connection drops", async () => {
    const proxy = await startTcpProxy(t.address);
    const c = t.sdkClient({ address: proxy.address });
    const token = await t.issuer.token();
    const both = () => Promise.all([0, 1].map(() => c.check({ token, action: "invoices:read", resource: invoice })));
    expect((await both()).map((d) => d.decision)).toEqual(["ALLOW", "ALLOW"]);
    expect(proxy.accepted).toBe(2);
    proxy.cut();
    // Let the close reach the client; a call sent on the dying connection would fail
    // closed (it may have been decided), which the test above covers.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await both()).map((d) => d.decision)).toEqual(["ALLOW", "ALLOW"]);
    expect(proxy.accepted).toBe(4);
    await proxy.close();
  });
});

describe("retries of Release", () => {
  it("retries a Release Verdict could not carry out, within a retry budget that runs out", async () => {
    // A Verdict whose database cannot be reached answers Release with UNAVAILABLE.
    const noDatabase = await startSdkVerdict({
      issuer: t.issuer,
      mongoUri: `mongodb://${await closedAddress()}/?serverSelectionTimeoutMS=200`,
      config: { state_timeout_ms: 50 },
    });
    const proxy = await startTcpProxy(noDatabase.address);
    try {
      const c = noDatabase.sdkClient({ address: proxy.address });
      const attempts: number[] = [];
      for (let i = 0; i < 4; i++) {
        const before = proxy.streams;
        expect((await rejection(c.release(randomUUID()))).code).toBe("verdict_unavailable");
        attempts.push(proxy.streams - before);
      }
      // 3 attempts at most; then the budget (10 tokens, retries only above 5) shrinks with each failure.
      expect(attempts).toEqual([3, 2, 1, 1]);
    } finally {
      await proxy.close();
      await noDatabase.stop();
    }
  });
});

describe("options", () => {
  it("refuses plaintext beyond loopback unless insecurePlaintext says a mesh encrypts the hop", () => {
    expect(() => createVerdictClient({ address: "verdict.internal:50051", tls: false, credential: { apiKey: "k" } })).toThrow(
      expect.objectContaining({ code: "verdict_invalid_options" }),
    );
    createVerdictClient({ address: "verdict.internal:50051", tls: false, insecurePlaintext: true, credential: { apiKey: "k" } }).close();
    createVerdictClient({ address: "[::1]:50051", tls: false, credential: { apiKey: "k" } }).close();
  });

  it("refuses plaintext to an address list unless every address in it is loopback", () => {
    // grpc-js dials every entry of an ipv4:/ipv6: list, so the key would reach the second host in clear.
    for (const address of ["ipv6:[::1]:1,[2001:db8::1]:1", "ipv4:127.0.0.1:1,10.0.0.2:1", "ipv4:127.0.0.1:1,127.0.0.2:1,192.0.2.1:1"]) {
      expect(() => createVerdictClient({ address, tls: false, credential: { apiKey: "k" } }), address).toThrow(
        expect.objectContaining({ code: "verdict_invalid_options" }),
      );
    }
    createVerdictClient({ address: "ipv6:[::1]:1,[::1]:2", tls: false, credential: { apiKey: "k" } }).close();
    createVerdictClient({ address: "ipv4:127.0.0.1:1,127.0.0.2:1", tls: false, credential: { apiKey: "k" } }).close();
  });

  it("refuses a client that could not say which API is asking", () => {
    expect(() => createVerdictClient({ address: "127.0.0.1:50051", tls: false })).toThrow(expect.objectContaining({ code: "verdict_invalid_options" }));
    expect(() => createVerdictClient({ address: "127.0.0.1:50051", tls: false, credential: { apiKey: "k" }, deadlineMs: 0 })).toThrow(VerdictError);
  });
});

describe("mutual TLS", () => {
  it("identifies the API by its client certificate, without a key", async () => {
    const ca = createTestCa();
    const server = ca.issue({ cn: "verdict", dnsNames: ["localhost"], server: true });
    const tls = await startSdkVerdict({
      issuer: t.issuer,
      config: {
        tls: { cert_file: server.certFile, key_file: server.keyFile, client_ca_file: ca.certFile },
        apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, client_certificate: { subject_cn: "invoices-api" }, scopes: [...TEST_SCOPES] }],
      },
    });
    try {
      const cert = ca.issue({ cn: "invoices-api" });
      const c = createVerdictClient({
        address: tls.address,
        tls: { ca: ca.certPem, cert: cert.certPem, key: cert.keyPem, serverName: "localhost" },
        deadlineMs: 10_000,
      });
      expect((await c.check({ token: await t.issuer.token(), action: "invoices:read", resource: invoice })).decision).toBe("ALLOW");
      c.close();
    } finally {
      await tls.stop();
    }
  });
});
