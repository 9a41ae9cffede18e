// The invoices scenario end to end: an AI agent acting for alice uses the example
// invoices API (examples/invoices-api, Express + @verdict/sdk) on a loopback port,
// which asks a real Verdict (gRPC, the demo policy bundle, MongoDB over the wire).
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerdictClient, type VerdictClient } from "@verdict/sdk";
import { createInvoicesApp } from "../../examples/invoices-api/src/app.js";
import { AuditTestClient } from "../support/audit-client.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

let t: TestVerdict;
let verdict: VerdictClient;
let server: Server;
let api: string;

/** Every decision Verdict made in the scenario, in order; the audit step looks each one up. */
const decisionIds: string[] = [];

beforeAll(async () => {
  t = await startTestVerdict();
  verdict = createVerdictClient({ address: t.address, tls: false, credential: { apiKey: t.apiKey }, deadlineMs: 10_000 });
  server = createInvoicesApp({ verdict }).listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  verdict?.close();
  await t?.stop();
});

/** A token for the agent acting for alice (RFC 8693 act), with the scopes and acr it holds at that step. */
const agentToken = (scope: string, extra: Record<string, unknown> = {}) =>
  t.issuer.token({ sub: "alice", client_id: "invoice-agent", client_type: "ai-agent", act: { sub: "invoice-agent" }, scope, ...extra });

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json()) as Record<string, unknown>;
  const id = res.headers.get("x-verdict-decision-id") ?? (typeof json["decision_id"] === "string" ? json["decision_id"] : undefined);
  if (id) decisionIds.push(id);
  return { status: res.status, challenge: res.headers.get("www-authenticate"), json };
}

/**
 * The audit step of the scenario: the trail, read back through AuditService as
 * the invoices API, shows each decision with the agent that acted, the user it
 * acted for, the act chain, what it asked and what Verdict answered, in order.
 */
async function auditShowsWhoActedForWhom(ids: readonly string[]): Promise<void> {
  expect(ids).toHaveLength(new Set(ids).size);
  await t.verdict.audit?.flush();
  const trail = new AuditTestClient(t.address, t.apiKey);
  try {
    const { records } = await trail.query({ subject: "alice", client_id: "invoice-agent", since: "1h", limit: 100 });
    const byId = new Map(records.map((record) => [record.decision_id, record]));
    const found = ids.map((id) => byId.get(id));
    for (const record of found) {
      expect(record).toMatchObject({
        caller: { api: "invoices-api" },
        subject: "alice",
        client_id: "invoice-agent",
        client_type: "ai-agent",
        actors: [{ subject: "invoice-agent" }],
      });
      expect(JSON.stringify(record)).not.toContain("eyJ"); // no token, only its hash and jti
    }
    expect(
      found.map((r) => [
        r?.action,
        r?.decision,
        r?.reasons
          .map((x) => x.code)
          .sort()
          .join(","),
      ]),
    ).toEqual([
      ["invoices:read", "ALLOW", ""],
      ["invoices:dispute", "DENY", "insufficient_scope"],
      ["invoices:dispute", "STEP_UP", "agent_step_up_required,step_up_required"],
      ["invoices:dispute", "ALLOW", ""],
      ["invoices:read", "ALLOW", ""],
      ["invoices:dispute", "ALLOW", ""],
    ]);
  } finally {
    trail.close();
  }
}

describe("an agent disputes an invoice for alice", () => {
  it("with invoices:read, summarizes alice's pending invoices, and only hers", async () => {
    const res = await call("GET", "/invoices?status=pending&owner=bob&user=bob", await agentToken("invoices:read"));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ owner: "alice", client: "invoice-agent", summary: { count: 2, total_cents: 165_050 } });
    expect((res.json["invoices"] as { id: string }[]).map((i) => i.id)).toEqual(["inv-1", "inv-2"]);
  });

  it("cannot dispute with invoices:read alone: 403 insufficient_scope naming invoices:write", async () => {
    const res = await call("POST", "/invoices/inv-2/dispute", await agentToken("invoices:read"), { reason: "charged twice" });
    expect(res.status).toBe(403);
    expect(res.challenge).toMatch(/^Bearer error="insufficient_scope", error_description="[^"]*", scope="invoices:write"$/);
    expect(res.json).toMatchObject({ error: "insufficient_scope", reasons: [{ code: "insufficient_scope" }] });
  });

  it("with invoices:write, is asked for a stronger authentication of alice: 401 with acr_values", async () => {
    const res = await call("POST", "/invoices/inv-2/dispute", await agentToken("invoices:read invoices:write"), { reason: "charged twice" });
    expect(res.status).toBe(401);
    // an AI agent's dispute needs the user's MFA within 10 minutes (settings.agents.step_up)
    expect(res.challenge).toMatch(/^Bearer error="insufficient_user_authentication", error_description="[^"]*", acr_values="mfa", max_age=600$/);
    expect(res.json).toMatchObject({ decision: "STEP_UP" });
    expect((res.json["reasons"] as { code: string }[]).map((r) => r.code).sort()).toEqual(["agent_step_up_required", "step_up_required"]);
  });

  it("after alice steps up (acr mfa), disputes the invoice", async () => {
    const token = await agentToken("invoices:read invoices:write", { acr: "mfa", auth_time: Math.floor(Date.now() / 1000) });
    const res = await call("POST", "/invoices/inv-2/dispute", token, { reason: "charged twice" });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ invoice: { id: "inv-2", status: "disputed", dispute: { reason: "charged twice", by_client: "invoice-agent" } } });
    const pending = await call("GET", "/invoices?status=pending", token);
    expect((pending.json["invoices"] as { id: string }[]).map((i) => i.id)).toEqual(["inv-1"]);
  });

  it("cannot reach another user's invoice, even allowed to dispute", async () => {
    const token = await agentToken("invoices:read invoices:write", { acr: "mfa", auth_time: Math.floor(Date.now() / 1000) });
    const res = await call("POST", "/invoices/inv-4/dispute", token, { reason: "not mine" });
    expect(res.status).toBe(404);
  });

  it("leaves an audit trail showing which agent acted for which user, and what was decided", async () => {
    expect(decisionIds).toHaveLength(6); // six requests, each decided once
    await auditShowsWhoActedForWhom(decisionIds);
  });
});
