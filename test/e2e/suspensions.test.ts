// Suspensions through a running Verdict: AdminService over gRPC, Checks denied
// principal_suspended by agent, user, delegation, token and session, the audit
// trail's events, the grant, bad input, and a policy that decides for suspended
// principals itself.
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/server/index.js";
import { ok, TestAdminClient } from "../support/admin.js";
import { AuditTestClient } from "../support/audit-client.js";
import { buildFixtureBundle } from "../support/bundles.js";
import { TestClient } from "../support/grpc.js";
import { createTestIssuer, TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "../support/issuer.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;
let issuer: TestIssuer;
let admin: TestAdminClient;
let audit: AuditTestClient;

beforeAll(async () => {
  issuer = await createTestIssuer();
  t = await startTestVerdict({
    issuer,
    config: {
      apis: [
        { name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey("invoices-key"), scopes: [...TEST_SCOPES], grants: ["suspensions"] },
        { name: "other-api", audience: "https://other.example", key_sha256: hashApiKey("other-key"), scopes: [...TEST_SCOPES] },
      ],
    },
  });
  t.client.close();
  t.client = new TestClient(t.address, "invoices-key");
  admin = new TestAdminClient(t.address, "invoices-key");
  audit = new AuditTestClient(t.address, "invoices-key");
});
afterAll(async () => {
  admin?.close();
  audit?.close();
  await t?.stop();
});

const read = (token: string) => t.client.check({ token, action: "invoices:read" });
const agentToken = (claims: Record<string, unknown> = {}) => issuer.token({ client_type: "ai-agent", ...claims });

describe("suspending an agent", () => {
  it("denies its Checks with principal_suspended until it is resumed, and leaves other agents alone", async () => {
    const agent = `agent-${randomUUID()}`;
    const token = await agentToken({ client_id: agent });
    const bystander = await agentToken({ client_id: `agent-${randomUUID()}` });
    expect((await read(token)).decision).toBe("ALLOW");

    const suspended = ok(await admin.suspend({ target: { kind: "agent", client_id: agent }, reason: "loops on refunds", seconds: 3600 }));
    expect(suspended.status).toBe("suspended");
    expect(suspended.suspension).toMatchObject({
      target: { kind: "agent", client_id: agent },
      source: "admin",
      reason: "loops on refunds",
      by_api: "invoices-api",
      by_subject: "tester",
    });

    const denied = await read(token);
    expect(denied.decision).toBe("DENY");
    expect(denied.reasons).toEqual([expect.objectContaining({ code: "principal_suspended" })]);
    // The caller is told what is suspended and until when, never the operator's reason.
    expect(denied.reasons[0]?.message).toMatch(new RegExp(`agent ${agent} is suspended until `));
    expect(denied.reasons[0]?.message).not.toContain("refunds");
    expect((await read(bystander)).decision).toBe("ALLOW");

    const resumed = ok(await admin.resume({ target: { kind: "agent", client_id: agent }, reason: "fixed" }));
    expect(resumed.resumed.map((s) => s.id)).toEqual([suspended.suspension?.id]);
    expect((await read(token)).decision).toBe("ALLOW");
  });

  it("also stops the agent where it acts for another through an act chain", async () => {
    const agent = `agent-${randomUUID()}`;
    ok(await admin.suspend({ target: { kind: "agent", client_id: agent } }));
    const token = await issuer.token({ client_id: "front-door", client_type: "ai-agent", act: { sub: "svc", client_id: agent } });
    expect((await read(token)).reasons.map((r) => r.code)).toEqual(["principal_suspended"]);
  });

  it("answers a duplicate suspension, a longer one and a resume of nothing without an error", async () => {
    const agent = `agent-${randomUUID()}`;
    expect(ok(await admin.suspend({ target: { kind: "agent", client_id: agent }, seconds: 60 })).status).toBe("suspended");
    expect(ok(await admin.suspend({ target: { kind: "agent", client_id: agent }, seconds: 60 })).status).toBe("already_suspended");
    expect(ok(await admin.suspend({ target: { kind: "agent", client_id: agent }, seconds: 600 })).status).toBe("extended");
    expect(ok(await admin.resume({ target: { kind: "agent", client_id: agent } })).resumed).toHaveLength(1);
    expect(ok(await admin.resume({ target: { kind: "agent", client_id: agent } })).resumed).toEqual([]);
    expect(ok(await admin.resume({ id: "s-000000000000000000000000" })).resumed).toEqual([]);
  });

  it("ends by itself when its time is up", async () => {
    const agent = `agent-${randomUUID()}`;
    const token = await agentToken({ client_id: agent });
    ok(await admin.suspend({ target: { kind: "agent", client_id: agent }, seconds: 1 }));
    expect((await read(token)).decision).toBe("DENY");
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await read(token)).decision).toBe("ALLOW");
  });
});

describe("the other targets", () => {
  it("a user: every agent acting for them, and their own clients", async () => {
    const sub = `user-${randomUUID()}`;
    ok(await admin.suspend({ target: { kind: "user", subject: sub, issuer: issuer.issuer } }));
    expect((await read(await agentToken({ sub }))).decision).toBe("DENY");
    expect((await read(await issuer.token({ sub }))).decision).toBe("DENY");
    expect((await read(await agentToken({ sub: `user-${randomUUID()}` }))).decision).toBe("ALLOW");
  });

  it("a delegation: this user's tokens for this agent only", async () => {
    const sub = `user-${randomUUID()}`;
    const agent = `agent-${randomUUID()}`;
    ok(await admin.suspend({ target: { kind: "delegation", subject: sub, client_id: agent } }));
    expect((await read(await agentToken({ sub, client_id: agent }))).decision).toBe("DENY");
    expect((await read(await agentToken({ sub, client_id: `agent-${randomUUID()}` }))).decision).toBe("ALLOW");
    expect((await read(await agentToken({ sub: `user-${randomUUID()}`, client_id: agent }))).decision).toBe("ALLOW");
  });

  it("a token, by its jti, and a session, by its sid", async () => {
    const jti = randomUUID();
    const sid = randomUUID();
    ok(await admin.suspend({ target: { kind: "token", token_id: jti } }));
    ok(await admin.suspend({ target: { kind: "session", session_id: sid } }));
    expect((await read(await agentToken({ jti }))).decision).toBe("DENY");
    expect((await read(await agentToken({ sid }))).decision).toBe("DENY");
    expect((await read(await agentToken({ sid: randomUUID() }))).decision).toBe("ALLOW");
  });

  it("an issuer-bound suspension leaves the same identifier under another issuer alone", async () => {
    const agent = `agent-${randomUUID()}`;
    ok(await admin.suspend({ target: { kind: "agent", client_id: agent, issuer: "https://another-issuer.example" } }));
    expect((await read(await agentToken({ client_id: agent }))).decision).toBe("ALLOW");
  });
});

describe("administration", () => {
  it("lists what is in force, newest first, by kind", async () => {
    const agent = `agent-${randomUUID()}`;
    const sub = `user-${randomUUID()}`;
    ok(await admin.suspend({ target: { kind: "agent", client_id: agent } }));
    ok(await admin.suspend({ target: { kind: "user", subject: sub } }));
    const all = ok(await admin.list()).suspensions;
    const mine = all.filter((s) => s.target?.client_id === agent || s.target?.subject === sub);
    expect(mine.map((s) => s.target?.kind)).toEqual(["user", "agent"]);
    const users = ok(await admin.list({ kind: "user" })).suspensions;
    expect(users.every((s) => s.target?.kind === "user")).toBe(true);
  });

  it("refuses an API without the suspensions grant", async () => {
    for (const outcome of [
      await admin.suspend({ target: { kind: "agent", client_id: "agent-x" } }, "other-key"),
      await admin.resume({ target: { kind: "agent", client_id: "agent-x" } }, "other-key"),
      await admin.list({}, "other-key"),
    ]) {
      expect(outcome).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
      if (!outcome.ok) expect(outcome.details).toContain("suspensions grant");
    }
  });

  it("answers bad input with INVALID_ARGUMENT that says what to fix", async () => {
    const cases: [Parameters<TestAdminClient["suspend"]>[0], RegExp][] = [
      [{ target: { kind: "robot", client_id: "x" } }, /target kind must be one of/],
      [{ target: { kind: "agent" } }, /needs client_id/],
      [{ target: { kind: "agent", client_id: "x", subject: "y" } }, /takes no subject/],
      [{ target: { kind: "agent", client_id: "x" }, reason: "" }, /needs a reason/],
      [{ target: { kind: "agent", client_id: "x" }, seconds: -1 }, /duration_seconds/],
    ];
    for (const [request, message] of cases) {
      const outcome = await admin.suspend(request);
      expect(outcome).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
      if (!outcome.ok) expect(outcome.details).toMatch(message);
    }
    expect(await admin.resume({})).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
    expect(await admin.list({ kind: "robot" })).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
  });

  it("records every change as an audit event: who, what, why", async () => {
    const agent = `agent-${randomUUID()}`;
    ok(await admin.suspend({ target: { kind: "agent", client_id: agent }, reason: "loops on refunds", by: "alice" }));
    ok(await admin.resume({ target: { kind: "agent", client_id: agent }, reason: "patched" }));
    await t.verdict.audit?.flush();
    const events = (await audit.query({ kind: "suspension", client_id: agent })).records;
    expect(events.map((e) => [e.decision, e.event_action, e.actor_via, e.caller?.api])).toEqual([
      ["EVENT", "resumed", "grpc", "invoices-api"],
      ["EVENT", "suspended", "grpc", "invoices-api"],
    ]);
    expect(events[1]?.target).toEqual({ kind: "agent", client_id: agent });
    expect(events[1]?.context).toMatchObject({ actor: { subject: "alice" }, reason: "loops on refunds" });
    expect(events[0]?.context).toMatchObject({ reason: "patched" });
  });
});

describe("the demo policy's brake", () => {
  it("suspends an agent for 10 minutes on its 21st denial within a minute, on every API, and says so in the audit trail", async () => {
    const agent = `agent-${randomUUID()}`;
    const token = await agentToken({ client_id: agent, scope: "invoices:read" });
    const denials = [];
    for (let i = 0; i < 21; i++) denials.push(await t.client.check({ token, action: "invoices:burn" }));
    expect(denials.every((d) => d.decision === "DENY" && d.reasons[0]?.code === "action_unknown")).toBe(true);
    const started = Date.now();
    const after = await read(token);
    expect(after.reasons.map((r) => r.code)).toEqual(["principal_suspended"]);

    const [held] = ok(await admin.list({ kind: "agent" })).suspensions.filter((s) => s.target?.client_id === agent);
    expect(held).toMatchObject({
      source: "policy",
      by_via: "policy",
      by_api: "invoices-api",
      target: { kind: "agent", client_id: agent, issuer: issuer.issuer },
    });
    const minutes = (Date.parse(held?.until ?? "") - started) / 60_000;
    expect(minutes).toBeGreaterThan(9.9);
    expect(minutes).toBeLessThanOrEqual(10);
    expect(held?.reason).toBe("more than 20 denials in sliding:60: suspended for 600s by the demo policy's brake");

    await t.verdict.audit?.flush();
    const [event] = (await audit.query({ kind: "suspension", client_id: agent })).records;
    expect(event).toMatchObject({ event_action: "suspended", actor_via: "policy", decision_id: expect.any(String) });
    expect((event?.context as { decision_id?: string }).decision_id).toBe(denials[20]?.decision_id);
  });

  it("never brakes a person, however often they are denied", async () => {
    const sub = `user-${randomUUID()}`;
    const token = await issuer.token({ sub, client_type: "web" });
    for (let i = 0; i < 25; i++) await t.client.check({ token, action: "invoices:burn" });
    expect((await read(token)).decision).toBe("ALLOW");
  });
});

describe("a policy that decides for suspended principals", () => {
  let own: TestVerdict;
  let ownAdmin: TestAdminClient;
  beforeAll(async () => {
    own = await startTestVerdict({
      issuer,
      config: {
        bundle: await buildFixtureBundle("suspension-policy"),
        apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey("own-key"), scopes: [...TEST_SCOPES], grants: ["suspensions"] }],
      },
    });
    own.client.close();
    own.client = new TestClient(own.address, "own-key");
    ownAdmin = new TestAdminClient(own.address, "own-key");
  });
  afterAll(async () => {
    ownAdmin?.close();
    await own?.stop();
  });

  it("sees the suspension as input.suspension and may allow reads while refusing writes", async () => {
    const agent = `agent-${randomUUID()}`;
    const token = await agentToken({ client_id: agent });
    ok(await ownAdmin.suspend({ target: { kind: "agent", client_id: agent } }));
    expect((await own.client.check({ token, action: "read_invoice" })).decision).toBe("ALLOW");
    const write = await own.client.check({ token, action: "pay_invoice" });
    expect(write).toMatchObject({ decision: "DENY", reasons: [{ code: "principal_suspended", message: "suspended agent (admin): reads only" }] });
  });
});
