// The invoices API: three routes, each protected by one line of @verdict/sdk.
// Verdict decides; the handlers only do the work, for principal.subject.
import express, { type Express, type Request } from "express";
import { verdictExpress, verdictOf, type VerdictClient, type VerdictError } from "@verdict/sdk";
import { demoInvoices, InvoiceStore, type Invoice, type InvoiceStatus } from "./store.js";

export { demoInvoices, InvoiceStore, type Invoice, type InvoiceStatus } from "./store.js";

export interface InvoicesAppOptions {
  verdict: VerdictClient;
  store?: InvoiceStore;
  /** The URL clients use to reach this API, for DPoP proofs (see @verdict/sdk's README). */
  publicBaseUrl?: string;
  /** Where to report that Verdict gave no decision (the request was answered 503). */
  onVerdictError?: (error: VerdictError) => void;
}

const STATUSES: readonly string[] = ["pending", "paid", "disputed"] satisfies InvoiceStatus[];

function view(invoice: Invoice) {
  return {
    id: invoice.id,
    customer: invoice.customer,
    amount_cents: invoice.amountCents,
    currency: invoice.currency,
    status: invoice.status,
    ...(invoice.dispute ? { dispute: { reason: invoice.dispute.reason, by_client: invoice.dispute.byClient, at: invoice.dispute.at } } : {}),
  };
}

export function createInvoicesApp(options: InvoicesAppOptions): Express {
  const store = options.store ?? new InvoiceStore(demoInvoices());
  const verdict = verdictExpress(options.verdict, {
    ...(options.publicBaseUrl !== undefined ? { publicBaseUrl: options.publicBaseUrl } : {}),
    ...(options.onVerdictError ? { onError: options.onVerdictError } : {}),
  });
  const app = express();
  app.disable("x-powered-by");
  app.use(express.json({ limit: "16kb" }));

  // Lists the caller's invoices. Whose? The verified subject's: never a user id the
  // agent put in the query string.
  app.get("/invoices", verdict({ action: "invoices:read", resource: { type: "invoice" } }), (req, res) => {
    const { principal, decisionId } = verdictOf(req);
    const status = typeof req.query["status"] === "string" ? req.query["status"] : undefined;
    if (status !== undefined && !STATUSES.includes(status)) {
      res.status(400).json({ error: "invalid_request", error_description: `status must be one of ${STATUSES.join(", ")}` });
      return;
    }
    const invoices = store.list(principal.subject, status as InvoiceStatus | undefined);
    res.setHeader("x-verdict-decision-id", decisionId);
    res.json({
      owner: principal.subject,
      client: principal.clientId,
      invoices: invoices.map(view),
      summary: { count: invoices.length, total_cents: invoices.reduce((sum, i) => sum + i.amountCents, 0) },
    });
  });

  // Disputes one of the caller's invoices: Verdict asks for invoices:write and a
  // recent strong authentication of the user (step-up) before this runs.
  app.post(
    "/invoices/:id/dispute",
    verdict<Request>({
      action: "invoices:dispute",
      resource: (req) => ({ type: "invoice", id: String(req.params["id"]) }),
    }),
    async (req, res) => {
      const context = verdictOf(req);
      const body: unknown = req.body;
      const reason =
        typeof body === "object" && body !== null && typeof (body as { reason?: unknown }).reason === "string" ? (body as { reason: string }).reason : "";
      const result = store.dispute(context.principal.subject, String(req.params["id"]), reason.slice(0, 500), context.principal.clientId);
      res.setHeader("x-verdict-decision-id", context.decisionId);
      if (!result.ok) {
        // The action did not happen: give back whatever Verdict reserved for it.
        if (context.obligations.length > 0) await context.release();
        res.status(result.why === "not_found" ? 404 : 409).json({ error: result.why });
        return;
      }
      res.json({ invoice: view(result.invoice) });
    },
  );

  // Sends money from the caller's account. An agent's transfer over 100 needs the
  // user's approval of exactly this transfer (docs/approvals.md): the SDK answers
  // 403 approval_required naming the approval; once the user approved it, the client
  // retries the same request with a Verdict-Approval header, which works once.
  app.post(
    "/transfers",
    verdict<Request>({
      action: "payments:transfer",
      resource: () => ({ type: "account", id: "checking" }),
      context: (req) => transferOf(req.body),
    }),
    (req, res) => {
      const context = verdictOf(req);
      res.setHeader("x-verdict-decision-id", context.decisionId);
      res.json({
        transfer: { ...transferOf(req.body), from: context.principal.subject, by_client: context.principal.clientId },
        decision_id: context.decisionId,
      });
    },
  );

  return app;
}

/** The fields of a transfer Verdict decides on (and an approval is bound to); anything else in the body is ignored. */
function transferOf(body: unknown): { amount: number; currency: string; destination: string } {
  const value = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  return {
    amount: typeof value["amount"] === "number" ? value["amount"] : 0,
    currency: typeof value["currency"] === "string" ? value["currency"].slice(0, 3) : "",
    destination: typeof value["destination"] === "string" ? value["destination"].slice(0, 64) : "",
  };
}
