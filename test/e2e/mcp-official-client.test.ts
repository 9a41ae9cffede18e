// The invoices MCP server (examples/mcp-server) driven by the official MCP
// TypeScript client (@modelcontextprotocol/sdk: StreamableHTTPClientTransport and an
// OAuthClientProvider) against `verdict serve --profile dev` (gRPC over a socket, the
// demo policy, the development authorization server). The user is played by plain
// HTTP requests that submit the authorization server's pages, keeping its cookie.
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerdictClient, type VerdictClient } from "@verdict/sdk";
import { createInvoicesMcpApp, demoInvoices, InvoiceStore } from "../../examples/mcp-server/src/app.js";
import { InMemoryOAuthClientProvider, receiveCallbacks, type CallbackReceiver } from "../../examples/mcp-server/src/oauth.js";
import { AgentSession, textOf, type Elicitation } from "../../examples/mcp-server/src/session.js";
import { runVerdict, serveVerdict, stopProcess, type ServingVerdict } from "../support/cli.js";
import { mongoUri } from "../support/mongo.js";

const home = mkdtempSync(join(tmpdir(), "verdict-mcp-"));
const user = `alice-${randomUUID().slice(0, 8)}`;

/** A browser: follows the authorization server's pages as the user would, keeping its session cookie. */
class Browser {
  private cookie: string | undefined;
  /** What the user chooses when asked to sign in (continue the session when there is one). */
  acr = "pwd";
  readonly visits: string[] = [];

  private async request(url: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(url, {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers as Record<string, string>), ...(this.cookie ? { cookie: this.cookie } : {}) },
    });
    const set = response.headers.get("set-cookie");
    if (set) this.cookie = set.split(";")[0];
    return response;
  }

  private static fields(html: string, form: number): Record<string, string> {
    const forms = html.split("<form").slice(1);
    const fields: Record<string, string> = {};
    for (const match of (forms[form] ?? "").matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      fields[match[1]!] = match[2]!.replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)));
    }
    return fields;
  }

  private async submit(action: string, fields: Record<string, string>): Promise<Response> {
    return this.request(action, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /** Opens an authorization URL, signs in (or continues the session), and follows the redirect to the client's callback. */
  async authorize(url: URL): Promise<void> {
    this.visits.push(url.href);
    const page = await this.request(url.href);
    expect(page.status).toBe(200);
    const html = await page.text();
    const fields = Browser.fields(html, 0);
    const choice: Record<string, string> = html.includes(`name="use_session"`) ? { use_session: "yes" } : { subject: user, acr: this.acr };
    const answer = await this.submit(new URL("/authorize", url).href, { ...fields, ...choice });
    expect(answer.status).toBe(302);
    const callback = await fetch(answer.headers.get("location")!);
    expect(callback.status).toBe(200);
  }

  /** Opens a step-up link and confirms with the given authentication. */
  async stepUp(url: string, acr: string): Promise<void> {
    const page = await this.request(url);
    expect(page.status).toBe(200);
    const done = await this.submit(new URL("/step-up", url).href, { ...Browser.fields(await page.text(), 0), subject: user, acr });
    expect(done.status).toBe(200);
  }
}

let verdict: ServingVerdict;
let client: VerdictClient;
let mcp: { url: string; close(): Promise<void> };
let issuer: string;
let callbacks: CallbackReceiver;
const browser = new Browser();
const elicitations: Elicitation[] = [];
let provider: InMemoryOAuthClientProvider;
let session: AgentSession;

beforeAll(async () => {
  // The MCP server's port first: its URL is the dev-mcp API's audience.
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const http = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  mcp = { url, close: () => new Promise((resolve) => http.close(() => resolve())) };

  verdict = await serveVerdict(["--profile", "dev", "--listen", "127.0.0.1:0", "--mcp-resource", url], { VERDICT_HOME: home, MONGODB_URI: mongoUri() });
  issuer = (JSON.parse(readFileSync(join(home, "dev-authorization-server.json"), "utf8")) as { issuer: string }).issuer;
  client = createVerdictClient({
    address: verdict.address,
    tls: false,
    credential: { apiKey: readFileSync(join(home, "dev-mcp-api-key"), "utf8").trim() },
    deadlineMs: 10_000,
  });
  // A cold local database (a JVM) can miss the 50 ms state deadline on its first writes: warm it with
  // the same stateful decision (a counted resources/read) until one is allowed, as a first user would.
  const warmToken = (
    await runVerdict(["dev-token", "--sub", "warm-up", "--client-id", "warm-up", "--client-type", "ai-agent", "--aud", url], { VERDICT_HOME: home })
  ).stdout.trim();
  for (let i = 0; i < 20; i++) {
    const warm = await client.check({
      token: warmToken,
      action: "mcp:session",
      resource: { type: "mcp_server" },
      context: { kind: "request", method: "resources/read", uri: "note://x" },
    });
    if (warm.decision === "ALLOW") break;
  }
  const store = new InvoiceStore(demoInvoices().map((invoice) => (invoice.owner === "alice" ? { ...invoice, owner: user } : invoice)));
  handler = createInvoicesMcpApp({ verdict: client, resource: url, authorizationServer: issuer, stepUpEndpoint: `${issuer}/step-up`, store });

  callbacks = await receiveCallbacks();
  provider = new InMemoryOAuthClientProvider(callbacks.url, "e2e agent", (authorizationUrl) => browser.authorize(authorizationUrl));
  session = new AgentSession({
    server: new URL(url),
    provider,
    callbacks,
    elicit: async (elicitation) => {
      elicitations.push(elicitation);
      await browser.stepUp(elicitation.url, "mfa");
    },
  });
});

afterAll(async () => {
  await session?.close();
  await callbacks?.close();
  client?.close();
  await mcp?.close();
  if (verdict) expect(await stopProcess(verdict.child)).toBe(0);
});

const claims = () => decodeJwt(provider.tokens()!.access_token);

/** A raw JSON-RPC POST with a token, as an MCP client sends it. */
const post = (url: string, token: string, body: unknown) =>
  fetch(url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-03-26",
    },
    body: JSON.stringify(body),
  });

/** The JSON-RPC messages of an answer, one JSON body or an SSE stream, by id. */
async function messagesById(response: Response): Promise<Map<number, { id: number; result?: Record<string, unknown> }>> {
  const body = await response.text();
  const messages = (
    response.headers.get("content-type")?.startsWith("text/event-stream")
      ? body
          .split("\n")
          .filter((line) => line.startsWith("data: ") && line.length > 6)
          .map((line) => JSON.parse(line.slice(6)))
      : [JSON.parse(body)].flat()
  ) as { id: number; result?: Record<string, unknown> }[];
  return new Map(messages.map((message) => [message.id, message]));
}

describe("the official MCP client against the invoices MCP server and npm start's Verdict", () => {
  it("discovers the authorization server from the 401 and the protected-resource metadata, registers, signs in and reads", async () => {
    const challenge = await fetch(mcp.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: "{}",
    });
    expect(challenge.status).toBe(401);
    const metadataUrl = new URL("/.well-known/oauth-protected-resource/mcp", mcp.url).href;
    expect(challenge.headers.get("www-authenticate")).toBe(`Bearer scope="invoices:read", resource_metadata="${metadataUrl}"`);
    expect(await (await fetch(metadataUrl)).json()).toMatchObject({ resource: mcp.url, authorization_servers: [issuer] });
    expect(issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    await session.connect();
    expect(browser.visits).toHaveLength(1);
    const authorization = new URL(browser.visits[0]!);
    expect(authorization.origin).toBe(issuer);
    expect(authorization.searchParams.get("scope")).toBe("invoices:read");
    expect(authorization.searchParams.get("resource")).toBe(mcp.url);
    expect(authorization.searchParams.get("code_challenge_method")).toBe("S256");
    expect(claims()).toMatchObject({ iss: issuer, sub: user, aud: mcp.url, scope: "invoices:read", client_type: "ai-agent", acr: "pwd" });

    const listed = JSON.parse(textOf(await session.callTool("list_invoices", { status: "pending" }))) as { id: string }[];
    expect(listed.map((invoice) => invoice.id)).toEqual(["inv-1", "inv-2", "inv-3"]);
    const read = await session.readResource("invoice://inv-1");
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toMatchObject({ id: "inv-1", amount: 80 });
  });

  it("escalates its scopes on a scope challenge and keeps the ones it had", async () => {
    const disputed = await session.callTool("dispute_invoice", { invoice_id: "inv-3", reason: "not ordered" });
    expect(disputed.isError).toBeFalsy();
    expect(JSON.parse(textOf(disputed))).toMatchObject({ id: "inv-3", status: "disputed" });
    expect(browser.visits).toHaveLength(2);
    expect(new URL(browser.visits[1]!).searchParams.get("scope")).toBe("invoices:read invoices:write");
    expect(claims()["scope"]).toBe("invoices:read invoices:write");
    // The old scope is still there: reading needs no new sign-in.
    expect(JSON.parse(textOf(await session.callTool("list_invoices", {})))).toHaveLength(4);
    expect(browser.visits).toHaveLength(2);

    const paid = await session.callTool("pay_invoice", { invoice_id: "inv-1", amount: 80 });
    expect(JSON.parse(textOf(paid))).toMatchObject({ id: "inv-1", status: "paid" });
    expect(claims()["scope"]).toBe("invoices:read invoices:write payments:write");
  });

  it("sees a policy deny as a tool error the model can read, not a transport failure", async () => {
    const over = await session.callTool("pay_invoice", { invoice_id: "inv-2", amount: 250 });
    expect(over.isError).toBe(true);
    expect(textOf(over)).toMatch(/The call to pay_invoice was not allowed: .*200.*\(limit_exceeded\)/);
    expect(over._meta).toMatchObject({ "verdict/decision": { decision: "DENY", reasons: [{ code: "limit_exceeded" }] } });
  });

  it("completes a step-up: a URL elicitation at the authorization server, then a token with a fresh mfa", async () => {
    const before = browser.visits.length;
    const paid = await session.callTool("pay_invoice", { invoice_id: "inv-2", amount: 150 });
    expect(JSON.parse(textOf(paid))).toMatchObject({ id: "inv-2", status: "paid" });
    expect(elicitations).toHaveLength(1);
    const link = new URL(elicitations[0]!.url);
    expect(link.origin + link.pathname).toBe(`${issuer}/step-up`);
    expect(link.searchParams.get("acr_values")).toBe("mfa");
    expect(link.searchParams.get("max_age")).toBe("300");
    expect(elicitations[0]!.url).not.toContain(user);
    // After the step-up the client signed in once more, continuing the mfa session.
    expect(browser.visits.length).toBe(before + 1);
    const token = claims();
    expect(token).toMatchObject({ acr: "mfa", scope: "invoices:read invoices:write payments:write" });
    expect(Math.floor(Date.now() / 1000) - Number(token["auth_time"])).toBeLessThan(300);
  });

  it("serves a JSON-RPC batch: every message decided, the refused call a tool error, the others answered", async () => {
    const response = await post(mcp.url, provider.tokens()!.access_token, [
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get_invoice", arguments: { invoice_id: "inv-2" } } },
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "pay_invoice", arguments: { invoice_id: "inv-3", amount: 5000 } } },
      { jsonrpc: "2.0", id: 3, method: "resources/read", params: { uri: "invoice://inv-1" } },
      { jsonrpc: "2.0", id: 4, method: "ping" },
    ]);
    expect(response.status).toBe(200);
    const byId = await messagesById(response);
    expect(byId.get(1)?.result).toMatchObject({ content: [{ text: expect.stringContaining('"status": "paid"') }] });
    expect(byId.get(2)?.result).toMatchObject({ isError: true, content: [{ text: expect.stringContaining("limit_exceeded") }] });
    expect(byId.get(3)?.result).toMatchObject({ contents: [{ uri: "invoice://inv-1" }] });
    expect(byId.get(4)?.result).toEqual({});
  });

  it("gives back only the failing payment's own reservation in a batch that pays twice", async () => {
    const payer = `payer-${randomUUID().slice(0, 8)}`;
    const token = (
      await runVerdict(
        ["dev-token", "--sub", payer, "--client-id", "batch-agent", "--client-type", "ai-agent", "--scope", "payments:write", "--acr", "mfa", "--aud", mcp.url],
        { VERDICT_HOME: home },
      )
    ).stdout.trim();
    // The same MCP server (the dev-mcp API's audience is mcp.url) with this payer's invoices, on a port of its own.
    const store = new InvoiceStore([
      { id: "inv-1", owner: payer, customer: "Acme Corp", amount: 150, status: "pending" },
      { id: "inv-3", owner: payer, customer: "Initech", amount: 250, status: "pending" },
      { id: "inv-6", owner: payer, customer: "Soylent", amount: 160, status: "pending" },
    ]);
    const server = createInvoicesMcpApp({ verdict: client, resource: mcp.url, authorizationServer: issuer, store }).listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
    const pay = (id: number, invoice: string, amount: number) => ({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name: "pay_invoice", arguments: { invoice_id: invoice, amount } },
    });
    try {
      // 150 paid; the second call is refused by the tool (inv-3 is for 250), which gives back its own 1, not the 150.
      const batch = await post(url, token, [pay(1, "inv-1", 150), pay(2, "inv-3", 1)]);
      expect(batch.status).toBe(200);
      const byId = await messagesById(batch);
      expect(byId.get(1)?.result).toMatchObject({ content: [{ text: expect.stringContaining('"status": "paid"') }] });
      expect(byId.get(2)?.result).toMatchObject({ isError: true, content: [{ text: "invoice inv-3 is for 250 EUR, not 1" }] });
      // An agent may pay 300 a day for a user: with the 150 still counted, 160 more is over.
      const over = await messagesById(await post(url, token, pay(3, "inv-6", 160)));
      expect(over.get(3)?.result).toMatchObject({ isError: true, content: [{ text: expect.stringContaining("(limit_exceeded)") }] });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("answers a browser's preflight without a token and lets a browser read the challenge", async () => {
    const preflight = await fetch(mcp.url, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:6274",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,mcp-protocol-version",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/authorization.*mcp-protocol-version/);
    const challenge = await fetch(mcp.url, { method: "POST", headers: { origin: "http://localhost:6274", "content-type": "application/json" }, body: "{}" });
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get("access-control-expose-headers")).toContain("WWW-Authenticate");
    // The authorization server's metadata is readable cross-origin too.
    const asMetadata = await fetch(`${issuer}/.well-known/oauth-authorization-server`, { headers: { origin: "http://localhost:6274" } });
    expect(asMetadata.headers.get("access-control-allow-origin")).toBe("*");
  });
});
