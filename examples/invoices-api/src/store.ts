// The API's own data. In memory to keep the example small; what matters is that
// every query is scoped by the owner the caller proved to be (principal.subject).

export type InvoiceStatus = "pending" | "paid" | "disputed";

export interface Invoice {
  id: string;
  /** The user the invoice belongs to (a token's sub). */
  owner: string;
  customer: string;
  /** Minor units (cents), so sums are exact. */
  amountCents: number;
  currency: string;
  status: InvoiceStatus;
  dispute?: { reason: string; byClient: string; at: string };
}

export class InvoiceStore {
  private readonly invoices: Map<string, Invoice>;

  constructor(invoices: Invoice[]) {
    this.invoices = new Map(invoices.map((invoice) => [invoice.id, structuredClone(invoice)]));
  }

  /** The owner's invoices, optionally with one status. */
  list(owner: string, status?: InvoiceStatus): Invoice[] {
    return [...this.invoices.values()].filter((i) => i.owner === owner && (status === undefined || i.status === status)).map((i) => structuredClone(i));
  }

  /** Marks the owner's pending invoice disputed; undefined when the owner has no such invoice. */
  dispute(owner: string, id: string, reason: string, byClient: string): { ok: true; invoice: Invoice } | { ok: false; why: "not_found" | "not_pending" } {
    const invoice = this.invoices.get(id);
    // Another owner's invoice is "not found", not "forbidden": its existence is not the caller's business.
    if (!invoice || invoice.owner !== owner) return { ok: false, why: "not_found" };
    if (invoice.status !== "pending") return { ok: false, why: "not_pending" };
    invoice.status = "disputed";
    invoice.dispute = { reason, byClient, at: new Date().toISOString() };
    return { ok: true, invoice: structuredClone(invoice) };
  }
}

/** A few invoices for two users, for the demo and the tests. */
export function demoInvoices(): Invoice[] {
  return [
    { id: "inv-1", owner: "alice", customer: "Acme Corp", amountCents: 120_000, currency: "EUR", status: "pending" },
    { id: "inv-2", owner: "alice", customer: "Globex", amountCents: 45_050, currency: "EUR", status: "pending" },
    { id: "inv-3", owner: "alice", customer: "Initech", amountCents: 9_900, currency: "EUR", status: "paid" },
    { id: "inv-4", owner: "bob", customer: "Umbrella", amountCents: 300_000, currency: "EUR", status: "pending" },
  ];
}
