// The invoices scenario as MCP tools. One line protects the MCP endpoint
// (verdictMcpGuard); the tools only do the work, for principal.subject.
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import express, { type Express } from "express";
import { z } from "zod";
import { principalOf, protectedResourceMetadata, verdictMcpGuard, type McpVerdict, type VerdictClient, type VerdictError } from "@verdict/sdk";
import { demoInvoices, InvoiceStore, type Invoice } from "./store.js";

export { demoInvoices, InvoiceStore, type Invoice } from "./store.js";

export interface InvoicesMcpOptions {
  verdict: VerdictClient;
  /** The URL clients use for the MCP endpoint (RFC 9728 resource; Verdict's audience for this API). */
  resource: string;
  /** The issuer of the tokens (RFC 8414): where clients go to get them. */
  authorizationServer: string;
  /** Where a user raises their authentication for one client (the dev server's /step-up). */
  stepUpEndpoint?: string;
  store?: InvoiceStore;
  onVerdictError?: (error: VerdictError) => void;
}

type AuthInfo = Parameters<typeof principalOf>[0];

const text = (value: unknown, isError = false): CallToolResult => ({
  content: [{ type: "text", text: typeof value === "string" ? value : JSON.stringify(value, null, 2) }],
  ...(isError ? { isError } : {}),
});
const view = (i: Invoice) => ({ id: i.id, customer: i.customer, amount: i.amount, currency: "EUR", status: i.status, ...(i.note ? { note: i.note } : {}) });

function buildServer(store: InvoiceStore, verdict: VerdictClient): McpServer {
  const server = new McpServer({ name: "invoices", version: "1.0.0" });
  const owner = (authInfo: AuthInfo) => principalOf(authInfo).subject;

  server.registerTool(
    "list_invoices",
    { description: "List your invoices, optionally only those with one status.", inputSchema: { status: z.enum(["pending", "paid", "disputed"]).optional() } },
    ({ status }, extra) => text(store.list(owner(extra.authInfo), status).map(view)),
  );
  server.registerTool("get_invoice", { description: "One of your invoices.", inputSchema: { invoice_id: z.string() } }, ({ invoice_id }, extra) => {
    const invoice = store.get(owner(extra.authInfo), invoice_id);
    return invoice ? text(view(invoice)) : text(`there is no invoice ${invoice_id}`, true);
  });
  server.registerTool(
    "dispute_invoice",
    { description: "Dispute one of your pending invoices.", inputSchema: { invoice_id: z.string(), reason: z.string().max(500) } },
    ({ invoice_id, reason }, extra) => {
      const done = store.settle(owner(extra.authInfo), invoice_id, "disputed", reason);
      return done.ok ? text(view(done.invoice)) : text(done.why, true);
    },
  );
  server.registerTool(
    "pay_invoice",
    {
      description: "Pay one of your pending invoices in full. amount is the invoice's amount in EUR (Verdict checks it against your limits).",
      inputSchema: { invoice_id: z.string(), amount: z.number().positive() },
    },
    async ({ invoice_id, amount }, extra) => {
      const who = owner(extra.authInfo);
      const invoice = store.get(who, invoice_id);
      // Verdict judged (and reserved) the amount the model sent: it must be what is paid.
      const refusal = !invoice
        ? `there is no invoice ${invoice_id}`
        : invoice.amount !== amount
          ? `invoice ${invoice_id} is for ${invoice.amount} EUR, not ${amount}`
          : undefined;
      const done = refusal === undefined ? store.settle(who, invoice_id, "paid", `paid ${amount} EUR`) : { ok: false as const, why: refusal };
      if (!done.ok) {
        // Nothing was paid: give back what Verdict reserved for this call, found by its request id (a batch may pay twice).
        const decision = (extra.authInfo?.extra?.["verdict"] as McpVerdict | undefined)?.decisions.find((d) => d.id === extra.requestId);
        if (decision && decision.obligations.length > 0) await verdict.release(decision.decisionId).catch(() => undefined);
        return text(done.why, true);
      }
      return text(view(done.invoice));
    },
  );
  server.registerResource(
    "invoice",
    new ResourceTemplate("invoice://{id}", { list: undefined }),
    { description: "One of your invoices", mimeType: "application/json" },
    (uri, { id }, extra) => {
      const invoice = store.get(owner(extra.authInfo), String(id));
      return { contents: invoice ? [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(view(invoice)) }] : [] };
    },
  );
  return server;
}

export function createInvoicesMcpApp(options: InvoicesMcpOptions): Express {
  const store = options.store ?? new InvoiceStore(demoInvoices());
  const metadata = protectedResourceMetadata({
    resource: options.resource,
    authorizationServers: [options.authorizationServer],
    scopesSupported: ["invoices:read", "invoices:write", "payments:write"],
    resourceName: "Invoices (MCP)",
  });
  const stepUpEndpoint = options.stepUpEndpoint;
  const guard = verdictMcpGuard(options.verdict, {
    resourceMetadataUrl: metadata.url,
    // What a client without a token is told to ask for first; more is asked for when a tool needs it.
    scope: ["invoices:read"],
    ...(stepUpEndpoint
      ? {
          stepUpUrl: (need) => {
            const url = new URL(stepUpEndpoint);
            url.searchParams.set("client_id", need.clientId);
            url.searchParams.set("acr_values", need.acrValues.join(" "));
            if (need.maxAge !== undefined) url.searchParams.set("max_age", String(need.maxAge));
            url.searchParams.set("elicitation_id", need.elicitationId);
            return url.href;
          },
        }
      : {}),
    ...(options.onVerdictError ? { onError: options.onVerdictError } : {}),
  });

  const app = express();
  app.disable("x-powered-by");
  app.use(metadata.handler);
  // Stateless Streamable HTTP: one MCP server and transport per request (the MCP SDK's pattern).
  app.all(new URL(options.resource).pathname, guard, async (req, res) => {
    const server = buildServer(store, options.verdict);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return app;
}
