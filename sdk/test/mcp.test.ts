// The MCP guard and the RFC 9728 metadata helper, with a real McpServer on the
// Streamable HTTP transport behind Express, a real MCP Client, raw JSON-RPC over
// HTTP for the challenges, and a real Verdict.
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express, { type Request, type Response } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { principalOf, protectedResourceMetadata, verdictMcpGuard, VerdictError, type McpGuardOptions, type VerdictClient } from "@verdict/sdk";
import { TEST_ISSUER } from "../../test/support/issuer.js";
import { createDpopKey, send, type HttpResult } from "./support/http.js";
import { closedAddress, startSdkVerdict, type SdkTestVerdict } from "./support/verdict.js";

/** The MCP server under test: its tools answer with what they were told and who asked. */
function buildMcpServer(): McpServer {
  const server = new McpServer({ name: "invoices-mcp", version: "1.0.0" });
  const who = (authInfo: Parameters<typeof principalOf>[0]) => {
    const principal = principalOf(authInfo);
    return `${principal.subject} via ${principal.clientId}`;
  };
  server.registerTool("list_invoices", { description: "List pending invoices" }, async (extra) => ({ content: [{ type: "text", text: `invoices of ${who(extra.authInfo)}` }] }));
  server.registerTool("summarize_invoices", { description: "Summarize invoices" }, async (extra) => ({ content: [{ type: "text", text: `summary for ${who(extra.authInfo)}` }] }));
  server.registerTool("dispute_invoice", { description: "Dispute an invoice", inputSchema: { invoice_id: z.string() } }, async ({ invoice_id }, extra) => ({
    content: [{ type: "text", text: `${invoice_id} disputed by ${who(extra.authInfo)}` }],
  }));
  server.registerTool("transfer", { description: "Transfer money", inputSchema: { amount: z.number() } }, async ({ amount }) => ({ content: [{ type: "text", text: `sent ${amount}` }] }));
  server.registerTool("purge_invoices", { description: "Purge every invoice" }, async () => ({ content: [{ type: "text", text: "purged" }] }));
  return server;
}

/** Stateless Streamable HTTP: one server and transport per request (the MCP SDK's own pattern). */
async function serveMcp(req: Request, res: Response): Promise<void> {
  const server = buildMcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
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
  const mapped = verdictMcpGuard(client, { resourceMetadataUrl: metadata.url, toolAction: { summarize_invoices: "invoices:read" } });
  app.use(metadata.handler);
  app.post("/mcp", express.json(), guard, serveMcp);
  app.get("/mcp", guard, (_req, res) => res.status(405).set("allow", "POST").end());
  app.post("/mcp-mapped", express.json(), mapped, serveMcp);
  app.post("/mcp-unparsed", guard, serveMcp);
  return { base, metadataUrl: metadata.url, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

let t: SdkTestVerdict;
let app: McpApp;
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

/** A raw JSON-RPC POST, as an MCP client sends it. */
function rpc(body: unknown, headers: Record<string, string> = {}, target: McpApp = app, path = "/mcp"): Promise<HttpResult> {
  return send(`${target.base}${path}`, { method: "POST", headers: { accept: "application/json, text/event-stream", ...headers }, body });
}

const toolCall = (name: string, args: Record<string, unknown> = {}, id: number | string = 1) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });

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
    expect(protectedResourceMetadata({ resource: "https://mcp.example.com", authorizationServers: [TEST_ISSUER] }).url).toBe("https://mcp.example.com/.well-known/oauth-protected-resource");
  });
});

describe("the MCP guard", () => {
  it("answers a request without a token 401 with resource_metadata and the suggested scope", async () => {
    const res = await rpc({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } });
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
    expect(res.headers["www-authenticate"]).toMatch(new RegExp(`^Bearer error="insufficient_scope", error_description="[^"]*", scope="invoices:write", resource_metadata="${app.metadataUrl}"$`));
    expect(res.json).toMatchObject({ error: "insufficient_scope", reasons: [{ code: "insufficient_scope" }] });
  });

  it("answers a tool call that needs a stronger authentication 401 with acr_values, max_age and resource_metadata", async () => {
    const res = await rpc(toolCall("dispute_invoice", { invoice_id: "inv-1" }), { authorization: `Bearer ${await t.issuer.token({ scope: "invoices:write" })}` });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(
      new RegExp(`^Bearer error="insufficient_user_authentication", error_description="[^"]*", acr_values="mfa", max_age=300, resource_metadata="${app.metadataUrl}"$`),
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
    expect(res.headers["www-authenticate"]).toMatch(new RegExp(`^Bearer error="invalid_token", error_description="[^"]*", resource_metadata="${app.metadataUrl}"$`));
  });

  it("answers a policy deny of a tool 403 without a challenge", async () => {
    const res = await rpc(toolCall("purge_invoices"), { authorization: `Bearer ${await t.issuer.token({ scope: "invoices:write" })}` });
    expect(res.status).toBe(403);
    expect(res.headers["www-authenticate"]).toBeUndefined();
    expect(res.json).toMatchObject({ reasons: [{ code: "purge_disabled" }] });
  });

  it("gives the policy the tool's arguments as context", async () => {
    const client = await connect(await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write" }));
    expect(textOf(await client.callTool({ name: "transfer", arguments: { amount: 600 } }))).toBe("sent 600");
    await expect(client.callTool({ name: "transfer", arguments: { amount: 600 } })).rejects.toMatchObject({ code: 403 });
    await client.close();
  });

  it("refuses a batch when one of its tool calls is refused, and gives back what the others reserved", async () => {
    const token = await t.issuer.token({ sub: `payer-${randomUUID()}`, scope: "payments:write invoices:read" });
    const res = await rpc([toolCall("transfer", { amount: 700 }, 1), toolCall("dispute_invoice", { invoice_id: "inv-1" }, 2)], { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ error: "insufficient_scope" });
    // The 700 reserved by the first call was released: the whole daily 1000 is still there.
    const client = await connect(token);
    expect(textOf(await client.callTool({ name: "transfer", arguments: { amount: 1000 } }))).toBe("sent 1000");
    await client.close();
  });

  it("refuses a tools/call it cannot read 400, without asking Verdict", async () => {
    const res = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { arguments: {} } }, { authorization: `Bearer ${await t.issuer.token()}` }, down);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ reasons: [{ code: "mcp_request_malformed" }] });
    const args = await rpc({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "transfer", arguments: [1] } }, { authorization: `Bearer ${await t.issuer.token()}` }, down);
    expect(args.status).toBe(400);
  });

  it("refuses to run behind an endpoint whose JSON body was not parsed", async () => {
    const res = await rpc(toolCall("list_invoices"), { authorization: `Bearer ${await t.issuer.token()}` }, app, "/mcp-unparsed");
    expect(res.status).toBe(500);
    expect(res.text).not.toContain("invoices of");
  });

  it("maps tool names to actions with a table", async () => {
    const client = await connect(await t.issuer.token({ sub: "bob", scope: "invoices:read" }), "/mcp-mapped");
    expect(textOf(await client.callTool({ name: "summarize_invoices", arguments: {} }))).toBe("summary for bob via agent-7");
    await client.close();
    // The default mapping names an action the policy does not know: denied.
    const unmapped = await rpc(toolCall("summarize_invoices"), { authorization: `Bearer ${await t.issuer.token({ scope: "invoices:read" })}` });
    expect(unmapped.status).toBe(403);
    expect(unmapped.json).toMatchObject({ reasons: [{ code: "action_unknown" }] });
  });

  it("checks a DPoP proof against the MCP endpoint's URL", async () => {
    const key = await createDpopKey();
    const token = await t.issuer.token({ scope: "invoices:read", cnf: { jkt: key.jkt } });
    const url = `${app.base}/mcp`;
    const wrong = await rpc(toolCall("list_invoices"), { authorization: `DPoP ${token}`, dpop: await key.proof("POST", `${app.base}/other`, token) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers["www-authenticate"]).toMatch(new RegExp(`^DPoP error="invalid_dpop_proof", error_description="[^"]*", resource_metadata="${app.metadataUrl}"$`));
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
