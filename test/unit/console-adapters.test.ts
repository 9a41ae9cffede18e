// The console's ports over suspensions (issue 16) and approvals (17): what each
// console action asks of the part, and that the operator is named by identity only.
import { describe, expect, it } from "vitest";
import { consoleApprovals, consoleSuspensions, type ApprovalsLike, type SuspensionsLike } from "../../src/server/admin/console/index.js";

const operator = { subject: "ops-1", clientId: "verdict-console", issuer: "https://idp.example", acr: "mfa", scopes: ["console:suspend"] };

describe("the console's suspensions port", () => {
  it("suspends an agent as the admin source, naming the operator without a token, and lifts every source's on resume", async () => {
    const calls: unknown[] = [];
    const record = { _id: "s1", target: { kind: "agent", client_id: "agent-7" }, source: "admin", reason: "runaway", since: new Date(0) };
    const part: SuspensionsLike = {
      add: async (request) => (calls.push(["add", request]), { suspension: record }),
      remove: async (request) => (calls.push(["remove", request]), [record, { ...record, _id: "s2", source: "policy" }]),
      list: async (options) => (calls.push(["list", options]), [record]),
    };
    const port = consoleSuspensions(part);
    expect(await port.suspendAgent("agent-7", "runaway", operator)).toEqual({
      id: "s1",
      kind: "agent",
      client_id: "agent-7",
      reason: "runaway",
      source: "admin",
      since: "1970-01-01T00:00:00.000Z",
    });
    expect(await port.resumeAgent("agent-7", "fixed", operator)).toBe(2);
    expect(await port.list(10)).toHaveLength(1);
    const by = { via: "http", issuer: "https://idp.example", subject: "ops-1", client_id: "verdict-console", acr: "mfa" };
    expect(calls).toEqual([
      ["add", { target: { kind: "agent", client_id: "agent-7" }, reason: "runaway", by, source: "admin" }],
      ["remove", { target: { kind: "agent", client_id: "agent-7" }, reason: "fixed", by }],
      ["list", { kind: "agent", limit: 10 }],
    ]);
  });
});

describe("the console's approvals port", () => {
  const view = (status: string) => ({
    approval_id: `a-${status}`,
    status,
    api: "invoices-api",
    issuer: "https://idp.example",
    subject: "alice",
    client_id: "agent-1",
    actors: [{ subject: "planner-agent" }, { subject: "sub-agent", client_id: "agent-9" }],
    action: "payments:transfer",
    resource: { type: "account", id: "acc-1" },
    context: { amount: 250 },
    created_at: "2026-12-01T12:00:00.000Z",
    expires_at: "2026-12-01T12:15:00.000Z",
    acr_values: ["mfa"],
    scopes: ["payments:write"],
    approval_url: "http://127.0.0.1:9464/approvals/a",
  });

  it("lists pending ones, and the history as every other status", async () => {
    const part: ApprovalsLike = {
      list: async (filter) => (filter.status === "pending" ? [view("pending")] : [view("pending"), view("approved"), view("expired")]),
      decide: async () => view("approved"),
    };
    const port = consoleApprovals(part);
    expect((await port.list("pending", 50)).map((a) => a.status)).toEqual(["pending"]);
    expect((await port.list("decided", 50)).map((a) => a.status)).toEqual(["approved", "expired"]);
    expect(await port.list("pending", 50)).not.toContainEqual(expect.objectContaining({ approval_url: expect.anything() }));
    // the person sees the chain of agents the request came through, and what their own token must carry
    expect((await port.list("pending", 50))[0]?.actors).toEqual([{ subject: "planner-agent" }, { subject: "sub-agent", client_id: "agent-9" }]);
    expect((await port.list("pending", 50))[0]?.scopes).toEqual(["payments:write"]);
  });

  it("decides with the approver's own token, as the approvals part checks it", async () => {
    const seen: unknown[] = [];
    const part: ApprovalsLike = { list: async () => [], decide: async (input) => (seen.push(input), view("approved")) };
    const by = { subject: "ops-1", clientId: "verdict-console", issuer: "https://login.example.com", scopes: ["console:approve"] };
    await consoleApprovals(part).decide("a-pending", "approve", "approver-token", by, "ok");
    // the operator who passed the token on goes with it, for the audit event (never the operator's token)
    expect(seen).toEqual([
      {
        approvalId: "a-pending",
        token: "approver-token",
        verdict: "approve",
        via: "http",
        operator: { issuer: "https://login.example.com", subject: "ops-1", client_id: "verdict-console" },
        reason: "ok",
      },
    ]);
  });
});
