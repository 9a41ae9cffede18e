// The MCP guard and the RFC 9728 metadata helper, with a real McpServer on the
// Streamable HTTP transport behind Express, a real MCP Client, raw JSON-RPC over
// HTTP for the challenges, and a real Verdict.
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express, { type Request, type Response } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  principalOf,
  protectedResourceMetadata,
  verdictMcpGuard,
  VerdictError,
  verdictOf,
  type McpGuardOptions,
  type McpVerdict,
  type VerdictClient,
} from "@verdict/sdk";
import { TEST_ISSUER } from "../../test/support/issuer.js";
import { createDpopKey, rpcMessages, send, type HttpResult } from "./support/http.js";
import { closedAddress, startSdkVerdict, type SdkTestVerdict } from "./support/verdict.js";

/** The MCP server under test: its tools answer with what they were told and who asked. */
function buildMcpServer(): McpServer {
  const server = new McpServer({ name: "invoices-mcp", version: "1.0.0" });
  const who = (authInfo: Parameters<typeof principalOf>[0]) => {
    const principal = principalOf(authInfo);
    return `${principal.subject} via ${principal.clientId}`;
  };
  server.registerTool("list_invoices", { description: "List pending invoices" }, async (extra) => ({
    content: [{ type: "text", text: `invoices of ${who(extra.authInfo)}` }],
  }));
  server.registerTool("summarize_invoices", { description: "Summarize invoices" }, async (extra) => ({
    content: [{ type: "text", text: `summary for ${who(extra.authInfo)}` }],
  }));
  server.registerTool("dispute_invoice", { description: "Dispute an invoice", inputSchema: { invoice_id: z.string() } }, async ({ invoice_id }, extra) => ({
    content: [{ type: "text", text: `${invoice_id} disputed by ${who(extra.authInfo)}` }],
  }));
  server.registerTool("transfer", { description: "Transfer money", inputSchema: { amount: z.number() } }, async ({ amount }) => ({
    content: [{ type: "text", text: `sent ${amount}` }],
  }));
  server.registerTool("wire", { description: "Wire money", inputSchema: { amount: z.number(), iban: z.string() } }, async ({ amount, iban }) => ({
    content: [{ type: "text", text: `wired ${amount} to ${iban}` }],
  }));
  server.registerTool("purge_invoices", { description: "Purge every invoice" }, async () => ({ content: [{ type: "text", text: "purged" }] }));
  server.registerTool("export_invoices", { description: "Export invoices" }, async () => ({ content: [{ type: "text", text: "exported" }] }));
  server.registerTool("own_decision", { description: "Which decision is this call's" }, async (extra) => {
    const verdict = extra.authInfo?.extra?.["verdict"] as McpVerdict;
    const own = verdict.decisions.find((d) => d.id === extra.requestId);
    return {
      content: [{ type: "text", text: JSON.stringify({ request_id: extra.requestId, own: own?.decisionId, ids: verdict.decisions.map((d) => d.id) }) }],
    };
  });
  server.registerResource("note", new ResourceTemplate("{scheme}://{id}", { list: undefined }), { description: "A note" }, async (uri) => ({
    contents: [{ uri: uri.href, text: `note ${uri.href}` }],
  }));
  return server;
}

/** Stateless Streamable HTTP: one server and transport per request (the MCP SDK's own pattern). */
async function serveMcp(req: Request, res: Response, enableJsonResponse = false): Promise<void> {
  const server = buildMcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse });
  res.on("close", () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
}

interface McpApp {
  base: string;
  metadataUrl: string;
  close(): Promise<void>;
}

async function startMcpApp(client: VerdictClient, options: Partial<McpGuardOptions> = {}): Promise<McpApp> {
  const app = express();
  const server: Server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const metadata = protectedResourceMetadata({
    resource: `${base}/mcp`,
    authorizationServers: [TEST_ISSUER],
    scopesSupported: ["invoices:read", "invoices:write", "payments:write"],
    resourceName: "Invoices MCP",
  });
  const guard = verdictMcpGuard(client, { resourceMetadataUrl: metadata.url, scope: ["invoices:read"], ...options });
  const mapped = verdictMcpGuard(client, {
    resourceMetadataUrl: metadata.url,
    toolAction: { summarize_invoices: "invoices:read", own_decision: "invoices:read" },
  });
  const http = verdictMcpGuard(client, { resourceMetadataUrl: metadata.url, denials: "http", scopeChallenge: "required" });
  const elicit = verdictMcpGuard(client, {
    resourceMetadataUrl: metadata.url,
    stepUpUrl: (need) =>
      `https://login.example.com/step-up?client_id=${need.clientId}&acr_values=${need.acrValues.join("+")}&elicitation_id=${need.elicitationId}`,
  });
  const origins = verdictMcpGuard(client, { resourceMetadataUrl: metadata.url, cors: { allowOrigins: ["https://app.example.com"] } });
  const failing = verdictMcpGuard(client, {
    resourceMetadataUrl: metadata.url,
    denialText: () => {
      throw new Error("a bug in denialText");
    },
  });
  app.use(metadata.handler);
  app.post("/mcp", express.json(), guard, (req, res) => serveMcp(req, res));
  app.options("/mcp", guard);
  app.get("/mcp", guard, (_req, res) => res.status(405).set("allow", "POST").end());
  app.post("/mcp-json", guard, (req, res) => serveMcp(req, res, true));
  app.post("/mcp-mapped", express.json(), mapped, (req, res) => serveMcp(req, res));
  app.post("/mcp-unparsed", guard, (req, res) => serveMcp(req, res));
  app.post("/mcp-http", express.json(), http, (req, res) => serveMcp(req, res));
  app.post("/mcp-elicit", express.json(), elicit, (req, res) => serveMcp(req, res));
  app.all("/mcp-origins", origins, (req, res) => serveMcp(req, res));
  app.post("/mcp-failing", express.json(), failing, (req, res) => serveMcp(req, res));
  // A timeout middleware that answered before Verdict did, and lets the route go on.
  const answeredFirst = (_req: unknown, res: { status(code: number): { json(body: unknown): void } }, next: () => void) => {
    res.status(503).json({ error: "timed out" });
    next();
  };
  app.post("/mcp-answered", express.json(), answeredFirst, guard, (req, res) => {
    ranAfterAnswer += 1;
    return serveMcp(req, res);
  });
  // An app that gives up before the MCP server runs anything.
  app.post("/mcp-given-up", express.json(), guard, async (req, res) => {
    res.status(503).json(await verdictOf(req).release());
  });
  // An app whose generic failure path releases the request once the MCP server has answered it.
  app.post("/mcp-release-after", express.json(), guard, async (req, res) => {
    await serveMcp(req, res, true);
    releasedAfter.push(
      await verdictOf(req)
        .release()
        .catch((error: unknown) => error),
    );
  });
  return { base, metadataUrl: metadata.url, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

let t: SdkTestVerdict;
let app: McpApp;
/** Requests the MCP server behind /mcp-answered was handed. */
let ranAfterAnswer = 0;
/** What req.verdict.release() gave the app behind /mcp-release-after, a result or an error. */
const releasedAfter: unknown[] = [];
let down: McpApp;

beforeAll(async () => {
  t = await startSdkVerdict();
  app = await startMcpApp(t.sdkClient());
  down = await startMcpApp(t.sdkClient({ address: await closedAddress(), deadlineMs: 2_000 }));
});
afterAll(async () => {
  await app?.close();
  await down?.close();
  await t?.stop();
});

async function connect(token: string, path = "/mcp"): Promise<Client> {
  const client = new Client({ name: "test-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${app.base}${path}`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

const textOf = (result: Awaited<ReturnType<Client["callTool"]>>) => (result.content as { type: string; text: string }[])[0]?.text;

/** What the transfer tool answers the token's user for `amount` (the whole daily 1000: "sent 1000" when nothing else holds it). */
async function transferOf(token: string, amount: number): Promise<string | undefined> {
  const client = await connect(token);
  try {
    return textOf(await client.callTool({ name: "transfer", arguments: { amount } }));
  } finally {
    await client.close();
  }
}

/** A raw JSON-RPC POST, as an MCP client sends it. */
function rpc(body: unknown, headers: Record<string, string> = {}, target: McpApp = app, path = "/mcp"): Promise<HttpResult> {
  return send(`${target.base}${path}`, { method: "POST", headers: { accept: "application/json, text/event-stream", ...headers }, body });
}

const toolCall = (name: string, args: Record<string, unknown> = {}, id: number | string = 1) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args },
});

describe("protected resource metadata (RFC 9728)", () => {
  it("serves the document at the well-known path built from the resource's path", async () => {
    expect(app.metadataUrl).toBe(`${app.base}/.well-known/oauth-protected-resource/mcp`);
    const res = await send(app.metadataUrl);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.json).toEqual({
      resource: `${app.base}/mcp`,
      authorization_servers: [TEST_ISSUER],
      scopes_supported: ["invoices:read", "invoices:write", "payments:write"],
      bearer_methods_supported: ["header"],
      resource_name: "Invoices MCP",
    });
    expect((await send(app.metadataUrl, { method: "POST", body: {} })).status).toBe(405);
  });

  it("refuses a resource that is not https (beyond loopback) or has a fragment", () => {
    expect(() => protectedResourceMetadata({ resource: "http://mcp.example.com/mcp", authorizationServers: [TEST_ISSUER] })).toThrow(VerdictError);
    expect(() => protectedResourceMetadata({ resource: "https://mcp.example.com/mcp#x", authorizationServers: [TEST_ISSUER] })).toThrow(VerdictError);
    expect(() => protectedResourceMetadata({ resource: "https://mcp.example.com/mcp", authorizationServers: [] })).toThrow(VerdictError);
    expect(protectedResourceMetadata({ resource: "https://mcp.example.com", authorizationServers: [TEST_ISSUER] }).url).toBe(
      "https://mcp.example.com/.well-known/oauth-protected-resource",
    );
  });
});

describe("the MCP guard", () => {
  it("answers a request without a token 401 with resource_metadata and the suggested scope", async () => {
    const res = await rpc({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
    });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe(`Bearer scope="invoices:read", resource_metadata="${app.metadataUrl}"`);
    const stream = await send(`${app.base}/mcp`, { headers: { accept: "text/event-stream" } });
    expect(stream.status).toBe(401);
  });

  it("lets a valid token open a session, list tools, and call a tool its scopes allow, with the principal in the tool", async () => {
    const client = await connect(await t.issuer.token({ sub: "alice", client_id: "agent-1", scope: "invoices:read" }));
    const tools = await client.listTools();
    expect(tools.tools.map((tool) => tool.name)).toContain("list_invoices");
    expect(textOf(await client.callTool({ name: "list_invoices", arguments: {} }))).toBe("invoices of alice via agent-1");
    await client.close();
  });

  it("answers a tool call without its scope 403 insufficient_scope with scope and resource_metadata", async () => {
    const token = await t.issuer.token({ scope: "invoices:read" });
    const client = await connect(token);
    await expect(client.callTool({ name: "dispute_invoice", arguments: { invoice_id: "inv-1" } })).rejects.toMatchObject({ code: 403 });
    await client.close();
    const res = await rpc(toolCall("dispute_invoice", { invoice_id: "inv-1" }), { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
    // The scopes it has and the one it lacks: a client re-authorizing with exactly these keeps invoices:read.
    expect(res.headers["www-authenticate"]).toMatch(
      new RegExp(
        `^Bearer error="insufficient_scope", error_description="[^"]*", scope="invoices:read invoices:write", resource_metadata="${app.metadataUrl}"$`,
      ),
    );
    expect(res.json).toMatchObject({ error: "insufficient_scope", scope: "invoices:read invoices:write", reasons: [{ code: "insufficient_scope" }] });
    const required = await rpc(toolCall("dispute_invoice", { invoice_id: "inv-1" }), { authorization: `Bearer ${token}` }, app, "/mcp-http");
    expect(required.headers["www-authenticate"]).toMatch(/ scope="invoices:write", /);
  });

  it("answers a tool call that needs a stronger authentication 401 with acr_values, max_age and resource_metadata", async () => {
    const res = await rpc(toolCall("dispute_invoice", { invoice_id: "inv-1" }), {
      authorization: `Bearer ${await t.issuer.token({ scope: "invoices:write" })}`,
    });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(
      new RegExp(
        `^Bearer error="insufficient_user_authentication", error_description="[^"]*", acr_values="mfa", max_age=300, scope="invoices:write", resource_metadata="${app.metadataUrl}"$`,
      ),
    );
  });

  it("lets the tool call through once the user has stepped up", async () => {
    const client = await connect(await t.issuer.token({ sub: "alice", scope: "invoices:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) - 5 }));
    expect(textOf(await client.callTool({ name: "dispute_invoice", arguments: { invoice_id: "inv-7" } }))).toBe("inv-7 disputed by alice via agent-7");
    await client.close();
  });

  it("answers an invalid token 401 invalid_token with resource_metadata", async () => {
    const res = await rpc(toolCall("list_invoices"), { authorization: `Bearer ${(await t.issuer.token()).slice(0, -4)}AAAA` });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(
      new RegExp(`^Bearer error="invalid_token", error_description="[^"]*", resource_metadata="${app.metadataUrl}"$`),
    );
  });

  it("answers a policy deny of a tool as a tool result with isError and the reasons in words", async () => {
    const token = await t.issuer.token({ scope: "invoices:write" });
    const res = await rpc(toolCall("purge_invoices", {}, 9), { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(res.headers["www-authenticate"]).toBeUndefined();
    expect(res.json).toMatchObject({
      jsonrpc: "2.0",
      id: 9,
      result: {
        isError: true,
        content: [{ type: "text", text: expect.stringContaining("purging is disabled (purge_disabled)") }],
        _meta: { "verdict/decision": { decision: "DENY", reasons: [{ code: "purge_disabled" }] } },
      },
    });
    const client = await connect(token);
    const result = await client.callTool({ name: "purge_invoices", arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain("The call to purge_invoices was not allowed");
    expect(textOf(result)).toContain("Retrying it unchanged will be refused again.");
    await client.close();
  });

  it("tells an agent over its rate when a retry may pass, in words and in _meta, and 429 with Retry-After when told to (denials: http)", async () => {
    const token = await t.issuer.token({ client_id: `agent-${randomUUID()}`, scope: "invoices:read" });
    const auth = { authorization: `Bearer ${token}` };
    // the fixture allows an agent one export a minute (a sliding window)
    const client = await connect(token);
    expect(textOf(await client.callTool({ name: "export_invoices", arguments: {} }))).toBe("exported");
    await client.close();
    const res = await rpc(toolCall("export_invoices"), auth);
    expect(res.status).toBe(200);
    const meta = (res.json as { result: { _meta: { "verdict/decision": { retry_after_ms: number } } } }).result._meta["verdict/decision"];
    // the first call's one-second bucket leaves the window a minute after it ends
    expect(meta.retry_after_ms).toBeGreaterThan(50_000);
    expect(meta.retry_after_ms).toBeLessThanOrEqual(61_000);
    expect(res.json).toMatchObject({
      result: {
        isError: true,
        content: [
          {
            text: `The call to export_invoices was not allowed: tools:export_invoices is limited to 1 a minute for an agent (exports_too_fast). This may pass if retried in ${Math.ceil(meta.retry_after_ms / 1000)} s or later.`,
          },
        ],
        _meta: { "verdict/decision": { decision: "DENY", reasons: [{ code: "exports_too_fast" }] } },
      },
    });
    const http = await rpc(toolCall("export_invoices"), auth, app, "/mcp-http");
    expect(http.status).toBe(429);
    expect(Number(http.headers["retry-after"])).toBeGreaterThan(50);
    expect(http.json).toMatchObject({ reasons: [{ code: "exports_too_fast" }] });
  });

  it("answers a suspended agent's tool call with a tool error naming principal_suspended, and 403 when told to (denials: http)", async () => {
    const agent = `agent-${Date.now()}`;
    const token = await t.issuer.token({ scope: "invoices:read", client_id: agent, client_type: "ai-agent" });
    // Suspended mid-session: its next tool call is refused in MCP's terms, so the model reads why.
    const client = await connect(token);
    await t.verdict.suspensions.add({ target: { kind: "agent", client_id: agent }, reason: "loops", by: { via: "system" }, source: "admin" });
    const result = await client.callTool({ name: "list_invoices", arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      new RegExp(`The call to list_invoices was not allowed: The agent ${agent} is suspended until it is resumed\\. \\(principal_suspended\\)`),
    );
    await client.close();
    const res = await rpc(toolCall("list_invoices"), { authorization: `Bearer ${token}` }, app, "/mcp-http");
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({
      error: "access_denied",
      error_description: `The agent ${agent} is suspended until it is resumed.`,
      reasons: [{ code: "principal_suspended" }],
    });
  });

  it("answers a tool call that needs the user's approval with a tool error telling the agent to ask and retry, then lets the retry through once after a named approver said yes", async () => {
    const client = await connect(await t.issuer.token({ sub: "carol", scope: "payments:write" }));
    const asked = await client.callTool({ name: "wire", arguments: { amount: 5, iban: "DE02100100109307118603" } });
    expect(asked.isError).toBe(true);
    const meta = asked._meta?.["verdict/decision"] as { decision: string; approval: { id: string; url: string } };
    expect(meta).toMatchObject({ decision: "STEP_UP", approval: { url: `${t.verdict.adminUrl}/approvals/${meta.approval.id}` } });
    expect(textOf(asked)).toContain(`Ask the user to approve it at ${meta.approval.url}`);
    expect(textOf(asked)).toContain(`"verdict_approval_id": "${meta.approval.id}"`);

    // The approver the policy names (not carol herself) approves, with her own MFA token.
    const approver = (sub: string) =>
      t.issuer.token({ sub, client_id: "bank-app", scope: "payments:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) });
    const stranger = await fetch(`${meta.approval.url}/approve`, { method: "POST", headers: { authorization: `Bearer ${await approver("dave")}` } });
    expect(stranger.status).toBe(403);
    const approved = await fetch(`${meta.approval.url}/approve`, { method: "POST", headers: { authorization: `Bearer ${await approver("finance-lead")}` } });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ status: "approved", decided_by: { subject: "finance-lead" } });

    const retry = { name: "wire", arguments: { amount: 5, iban: "DE02100100109307118603", verdict_approval_id: meta.approval.id } };
    expect(textOf(await client.callTool(retry))).toBe("wired 5 to DE02100100109307118603");
    const again = await client.callTool(retry);
    expect(again.isError).toBe(true);
    expect(textOf(again)).toContain("(approval_used)");
    const changed = await client.callTool({ ...retry, arguments: { ...retry.arguments, amount: 6 } });
    expect(changed.isError).toBe(true);
    expect(textOf(changed)).toContain("(approval_mismatch)");
    await client.close();
  });

  it("answers a policy deny of a tool 403 without a challenge when told to (denials: http)", async () => {
    const res = await rpc(toolCall("purge_invoices"), { authorization: `Bearer ${await t.issuer.token({ scope: "invoices:write" })}` }, app, "/mcp-http");
    expect(res.status).toBe(403);
    expect(res.headers["www-authenticate"]).toBeUndefined();
    expect(res.json).toMatchObject({ reasons: [{ code: "purge_disabled" }] });
  });

  it("gives the policy the tool's arguments as context", async () => {
    const client = await connect(await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" }));
    expect(textOf(await client.callTool({ name: "transfer", arguments: { amount: 600 } }))).toBe("sent 600");
    const over = await client.callTool({ name: "transfer", arguments: { amount: 600 } });
    expect(over.isError).toBe(true);
    expect(textOf(over)).toContain("(limit_exceeded)");
    await client.close();
  });

  it("refuses a batch when one of its tool calls lacks a scope, and gives back what the others reserved", async () => {
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write invoices:read" });
    const res = await rpc([toolCall("transfer", { amount: 700 }, 1), toolCall("dispute_invoice", { invoice_id: "inv-1" }, 2)], {
      authorization: `Bearer ${token}`,
    });
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ error: "insufficient_scope", scope: "payments:write invoices:read invoices:write" });
    // The 700 reserved by the first call was released: the whole daily 1000 is still there.
    expect(await transferOf(token, 1000)).toBe("sent 1000");
  });

  it("refuses a batch when one of its messages is malformed, and gives back what the others reserved", async () => {
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" });
    // A tool name over Verdict's bound: Verdict decides the transfer (and reserves 700), and refuses this item as malformed.
    const res = await rpc([toolCall("transfer", { amount: 700 }, 1), toolCall("x".repeat(200), {}, 2)], { authorization: `Bearer ${token}` });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ reasons: [{ code: "verdict_invalid_argument" }] });
    // The 700 reserved by the first call was released: the whole daily 1000 is still there.
    expect(await transferOf(token, 1000)).toBe("sent 1000");
  });

  it("gives back what a batch reserved when the guard fails after Verdict decided", async () => {
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write invoices:write" });
    // The transfer is allowed (700 reserved); writing the purge's denial throws: nothing runs, Express answers 500.
    const res = await rpc(
      [toolCall("transfer", { amount: 700 }, 1), toolCall("purge_invoices", {}, 2)],
      { authorization: `Bearer ${token}` },
      app,
      "/mcp-failing",
    );
    expect(res.status).toBe(500);
    expect(await transferOf(token, 1000)).toBe("sent 1000");
  });

  it("passes nothing on when the request was answered before Verdict allowed it, and gives back what it reserved", async () => {
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" });
    const res = await rpc([toolCall("transfer", { amount: 1000 }, 1)], { authorization: `Bearer ${token}` }, app, "/mcp-answered");
    expect(res.status).toBe(503);
    const client = await connect(token);
    await expect
      .poll(async () => textOf(await client.callTool({ name: "transfer", arguments: { amount: 1000 } })), { timeout: 2_000, interval: 50 })
      .toBe("sent 1000");
    await client.close();
    expect(ranAfterAnswer).toBe(0);
  });

  it("gives back what the one message passed on reserved when the app releases the request", async () => {
    for (const body of [toolCall("transfer", { amount: 700 }, 1), [toolCall("transfer", { amount: 700 }, 1), toolCall("purge_invoices", {}, 2)]]) {
      const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write invoices:write" });
      // Alone, or in a batch whose other message the guard answered itself (a denied purge): the transfer is the one passed on.
      const res = await rpc(body, { authorization: `Bearer ${token}` }, app, "/mcp-given-up");
      expect(res.status).toBe(503);
      expect(res.json).toMatchObject({ status: "released", released: [{ amount: 700 }] });
      expect(await transferOf(token, 1000)).toBe("sent 1000");
    }
  });

  it("refuses req.verdict.release() on a request that passed on several messages: what a call that ran reserved still counts", async () => {
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" });
    const res = await rpc(
      [toolCall("transfer", { amount: 700 }, 1), toolCall("transfer", { amount: 200 }, 2)],
      { authorization: `Bearer ${token}` },
      app,
      "/mcp-release-after",
    );
    expect(res.status).toBe(200);
    expect(
      rpcMessages(res)
        .map((m) => (m["result"] as { content: { text: string }[] }).content[0]!.text)
        .sort(),
    ).toEqual(["sent 200", "sent 700"]);
    // Both transfers ran; the app's failure path then released the request, which may not give back what they spent.
    await expect.poll(() => releasedAfter.length, { timeout: 2_000, interval: 20 }).toBe(1);
    // 900 of the daily 1000 are spent: 1000 more is refused, and the 100 left is not.
    const client = await connect(token);
    const over = await client.callTool({ name: "transfer", arguments: { amount: 1000 } });
    expect(textOf(over)).toContain("(limit_exceeded)");
    expect(over.isError).toBe(true);
    expect(textOf(await client.callTool({ name: "transfer", arguments: { amount: 100 } }))).toBe("sent 100");
    await client.close();
    expect(releasedAfter[0]).toBeInstanceOf(VerdictError);
    expect(releasedAfter[0]).toMatchObject({ code: "verdict_release_ambiguous", message: expect.stringContaining("extra.requestId") });
  });

  it("tells each request of a batch its own decision by its JSON-RPC id", async () => {
    const auth = { authorization: `Bearer ${await t.issuer.token({ scope: "invoices:read" })}` };
    const res = await rpc([toolCall("own_decision", {}, 1), toolCall("own_decision", {}, 2)], auth, app, "/mcp-mapped");
    expect(res.status).toBe(200);
    const answers = rpcMessages(res)
      .sort((a, b) => Number(a["id"]) - Number(b["id"]))
      .map((m) => JSON.parse((m["result"] as { content: { text: string }[] }).content[0]!.text) as { request_id: number; own: string; ids: number[] });
    expect(answers).toMatchObject([
      { request_id: 1, ids: [1, 2] },
      { request_id: 2, ids: [1, 2] },
    ]);
    expect(answers[0]!.own).toMatch(/^[0-9a-f-]{36}$/);
    expect(answers[1]!.own).toMatch(/^[0-9a-f-]{36}$/);
    expect(answers[0]!.own).not.toBe(answers[1]!.own);
  });

  it("refuses a batch in which two requests share an id -32600, before anything is decided", async () => {
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" });
    const batch = [toolCall("transfer", { amount: 700 }, 7), toolCall("transfer", { amount: 300 }, 7)];
    const res = await rpc(batch, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "Invalid Request: message 1 repeats the id of message 0" } });
    // Without asking Verdict: refused the same with Verdict unreachable.
    expect((await rpc(batch, { authorization: `Bearer ${token}` }, down)).status).toBe(400);
    // Nothing was kept: the whole daily 1000 is still there.
    expect(await transferOf(token, 1000)).toBe("sent 1000");
  });

  it("answers a tools/call without a tool name -32602 invalid params, after a decision, without running anything", async () => {
    const auth = { authorization: `Bearer ${await t.issuer.token()}` };
    const res = await rpc({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { arguments: {} } }, auth);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ jsonrpc: "2.0", id: 4, error: { code: -32602, message: expect.stringContaining("params.name") } });
    const args = await rpc({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "transfer", arguments: [1] } }, auth);
    expect(args.json).toMatchObject({ id: 5, error: { code: -32602 } });
    // Decided first: with Verdict unreachable nothing is answered but 503.
    expect((await rpc({ jsonrpc: "2.0", id: 1, method: "tools/call", params: {} }, auth, down)).status).toBe(503);
  });

  it("answers an unknown method -32601 and never passes it on", async () => {
    const auth = { authorization: `Bearer ${await t.issuer.token()}` };
    const res = await rpc({ jsonrpc: "2.0", id: "x", method: "admin/dropTables", params: {} }, auth);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ jsonrpc: "2.0", id: "x", error: { code: -32601, message: "Method not found: admin/dropTables" } });
    expect((await rpc({ jsonrpc: "2.0", id: "x", method: "admin/dropTables" })).status).toBe(401);
  });

  it("answers a body that is not JSON-RPC 400 with the JSON-RPC error MCP names, without asking Verdict", async () => {
    const auth = { authorization: `Bearer ${await t.issuer.token()}` };
    const notJson = await send(`${down.base}/mcp-unparsed`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, rawBody: "{not json" });
    expect(notJson.status).toBe(400);
    expect(notJson.json).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: expect.stringContaining("Parse error") } });
    const cases: [unknown, number][] = [
      [{ id: 1, method: "ping" }, -32600],
      [{ jsonrpc: "2.0", id: 1, method: 7 }, -32600],
      [{ jsonrpc: "2.0", id: null, method: "ping" }, -32600],
      [[], -32600],
      [Array.from({ length: 101 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "ping" })), -32600],
      [[{ jsonrpc: "2.0", id: 1, method: "ping" }, 42], -32600],
    ];
    for (const [body, code] of cases) {
      const res = await rpc(body, auth, down);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json).toMatchObject({ jsonrpc: "2.0", error: { code } });
    }
    const wrongType = await send(`${down.base}/mcp-unparsed`, { method: "POST", headers: { ...auth, "content-type": "text/plain" }, rawBody: "{}" });
    expect(wrongType.status).toBe(415);
  });

  it("reads the body itself when no JSON parser ran before it", async () => {
    const res = await rpc(
      toolCall("list_invoices"),
      { authorization: `Bearer ${await t.issuer.token({ sub: "carol", scope: "invoices:read" })}` },
      app,
      "/mcp-unparsed",
    );
    expect(res.status).toBe(200);
    expect(rpcMessages(res)).toMatchObject([{ id: 1, result: { content: [{ text: "invoices of carol via agent-7" }] } }]);
  });

  it("checks every message of a batch: a refused resources/read refuses the batch a tools/call is in", async () => {
    const auth = { authorization: `Bearer ${await t.issuer.token({ scope: "invoices:read" })}` };
    const read = (uri: string, id: number) => ({ jsonrpc: "2.0", id, method: "resources/read", params: { uri } });
    const refused = await rpc([toolCall("list_invoices", {}, 1), read("secret://plans", 2)], auth);
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ reasons: [{ code: "resource_forbidden" }] });
    const allowed = await rpc([toolCall("list_invoices", {}, 1), read("note://n-1", 2)], auth);
    expect(allowed.status).toBe(200);
    expect(rpcMessages(allowed).sort((a, b) => Number(a["id"]) - Number(b["id"]))).toMatchObject([
      { id: 1, result: { content: [{ text: "invoices of user-123 via agent-7" }] } },
      { id: 2, result: { contents: [{ uri: "note://n-1", text: "note note://n-1" }] } },
    ]);
  });

  for (const [mode, path] of [
    ["an SSE stream", "/mcp"],
    ["one JSON body", "/mcp-json"],
  ] as const) {
    it(`keeps the allowed calls' results in a batch with refused ones, answered as ${mode}`, async () => {
      const auth = { authorization: `Bearer ${await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write invoices:read invoices:write" })}` };
      const res = await rpc(
        [
          toolCall("list_invoices", {}, 1),
          toolCall("purge_invoices", {}, 2),
          { jsonrpc: "2.0", id: 3, method: "no/such" },
          toolCall("transfer", { amount: 5 }, 4),
          { jsonrpc: "2.0", method: "notifications/initialized" },
        ],
        auth,
        app,
        path,
      );
      expect(res.status).toBe(200);
      const byId = new Map(rpcMessages(res).map((m) => [m["id"], m]));
      expect(byId.size).toBe(4);
      expect(byId.get(1)).toMatchObject({ result: { content: [{ text: expect.stringMatching(/^invoices of payer-/) }] } });
      expect(byId.get(2)).toMatchObject({ result: { isError: true, content: [{ text: expect.stringContaining("purge_disabled") }] } });
      expect(byId.get(3)).toMatchObject({ error: { code: -32601 } });
      expect(byId.get(4)).toMatchObject({ result: { content: [{ text: "sent 5" }] } });
    });
  }

  it("answers a batch whose every call is refused in MCP with the tool results alone", async () => {
    const res = await rpc([toolCall("purge_invoices", {}, 1), toolCall("purge_invoices", {}, 2)], {
      authorization: `Bearer ${await t.issuer.token({ scope: "invoices:write" })}`,
    });
    expect(res.status).toBe(200);
    expect(rpcMessages(res)).toMatchObject([
      { id: 1, result: { isError: true } },
      { id: 2, result: { isError: true } },
    ]);
  });

  it("asks a client that declared URL elicitation to step up out of band, then for a new token, then lets it through", async () => {
    const sub = `stepper-${randomUUID()}`;
    const weak = { authorization: `Bearer ${await t.issuer.token({ sub, scope: "invoices:write" })}` };
    const init = (url: boolean) => ({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: url ? { elicitation: { url: {} } } : {}, clientInfo: { name: "x", version: "1" } },
    });
    // Without the capability: the RFC 9470 challenge.
    expect((await rpc(init(false), weak, app, "/mcp-elicit")).status).toBe(200);
    expect((await rpc(toolCall("dispute_invoice", { invoice_id: "inv-1" }, 1), weak, app, "/mcp-elicit")).status).toBe(401);

    expect((await rpc(init(true), weak, app, "/mcp-elicit")).status).toBe(200);
    const first = await rpc(toolCall("dispute_invoice", { invoice_id: "inv-1" }, 1), weak, app, "/mcp-elicit");
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({
      id: 1,
      error: { code: -32042, data: { elicitations: [{ mode: "url", elicitationId: expect.any(String), message: expect.any(String) }] } },
    });
    const elicitation = ((first.json!["error"] as Record<string, unknown>)["data"] as { elicitations: { url: string; elicitationId: string }[] })
      .elicitations[0]!;
    expect(elicitation.url).toBe(`https://login.example.com/step-up?client_id=agent-7&acr_values=mfa&elicitation_id=${elicitation.elicitationId}`);
    expect(elicitation.url).not.toContain(sub);
    // The user says done: the same token is not enough, so the client is told to fetch a new one.
    const second = await rpc(toolCall("dispute_invoice", { invoice_id: "inv-1" }, 2), weak, app, "/mcp-elicit");
    expect(second.status).toBe(401);
    expect(second.headers["www-authenticate"]).toMatch(/error="insufficient_user_authentication".*acr_values="mfa", max_age=300, scope="invoices:write"/);
    // The new token still falls short (the user never finished): the link again.
    const third = await rpc(toolCall("dispute_invoice", { invoice_id: "inv-1" }, 3), weak, app, "/mcp-elicit");
    expect(third.json).toMatchObject({ id: 3, error: { code: -32042 } });
    const strong = {
      authorization: `Bearer ${await t.issuer.token({ sub, scope: "invoices:write", acr: "mfa", auth_time: Math.floor(Date.now() / 1000) - 5 })}`,
    };
    const done = await rpc(toolCall("dispute_invoice", { invoice_id: "inv-1" }, 4), strong, app, "/mcp-elicit");
    expect(rpcMessages(done)).toMatchObject([{ id: 4, result: { content: [{ text: `inv-1 disputed by ${sub} via agent-7` }] } }]);
  });

  it("answers a browser's CORS preflight without a token and exposes WWW-Authenticate on challenges", async () => {
    const preflight = await send(`${app.base}/mcp`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, mcp-protocol-version",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe("*");
    expect(String(preflight.headers["access-control-allow-headers"])).toMatch(/authorization.*content-type.*mcp-session-id.*mcp-protocol-version/);
    expect(String(preflight.headers["access-control-allow-methods"])).toContain("POST");
    const challenge = await rpc(toolCall("list_invoices"), { origin: "https://app.example.com" });
    expect(challenge.status).toBe(401);
    expect(challenge.headers["access-control-allow-origin"]).toBe("*");
    expect(String(challenge.headers["access-control-expose-headers"])).toContain("WWW-Authenticate");
  });

  it("refuses a browser Origin that is not allowed 403, and allows the listed one", async () => {
    const auth = { authorization: `Bearer ${await t.issuer.token({ scope: "invoices:read" })}` };
    const other = await rpc(toolCall("list_invoices"), { ...auth, origin: "https://evil.example" }, app, "/mcp-origins");
    expect(other.status).toBe(403);
    const listed = await rpc(toolCall("list_invoices"), { ...auth, origin: "https://app.example.com" }, app, "/mcp-origins");
    expect(listed.status).toBe(200);
    expect(listed.headers["access-control-allow-origin"]).toBe("https://app.example.com");
  });

  it("maps tool names to actions with a table", async () => {
    const client = await connect(await t.issuer.token({ sub: "bob", scope: "invoices:read" }), "/mcp-mapped");
    expect(textOf(await client.callTool({ name: "summarize_invoices", arguments: {} }))).toBe("summary for bob via agent-7");
    await client.close();
    // The default mapping names an action the policy does not know: denied.
    const unmapped = await rpc(toolCall("summarize_invoices"), { authorization: `Bearer ${await t.issuer.token({ scope: "invoices:read" })}` });
    expect(unmapped.status).toBe(200);
    expect(unmapped.json).toMatchObject({ result: { isError: true, _meta: { "verdict/decision": { reasons: [{ code: "action_unknown" }] } } } });
  });

  it("checks a DPoP proof against the MCP endpoint's URL", async () => {
    const key = await createDpopKey();
    const token = await t.issuer.token({ scope: "invoices:read", cnf: { jkt: key.jkt } });
    const url = `${app.base}/mcp`;
    const wrong = await rpc(toolCall("list_invoices"), { authorization: `DPoP ${token}`, dpop: await key.proof("POST", `${app.base}/other`, token) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers["www-authenticate"]).toMatch(
      new RegExp(`^DPoP error="invalid_dpop_proof", error_description="[^"]*", resource_metadata="${app.metadataUrl}"$`),
    );
    const right = await rpc(toolCall("list_invoices"), { authorization: `DPoP ${token}`, dpop: await key.proof("POST", url, token) });
    expect(right.status).toBe(200);
  });

  it("answers 503 with Retry-After when Verdict is unreachable", async () => {
    const res = await rpc(toolCall("list_invoices"), { authorization: `Bearer ${await t.issuer.token()}` }, down);
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("5");
    expect(res.headers["www-authenticate"]).toBeUndefined();
  });
});
