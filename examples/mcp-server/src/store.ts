// The MCP server's own data, in memory. Every query is scoped by the owner the
// caller proved to be (principal.subject), never by an id the model chose.

export type InvoiceStatus = "pending" | "paid" | "disputed";

export interface Invoice {
  id: string;
  /** The user the invoice belongs to (a token's sub). */
  owner: string;
  customer: string;
  /** Whole euros, as the tools take them (the policy's limits are in the same unit). */
  amount: number;
  status: InvoiceStatus;
  note?: string;
}

export class InvoiceStore {
  private readonly invoices: Map<string, Invoice>;

  constructor(invoices: Invoice[]) {
    this.invoices = new Map(invoices.map((invoice) => [invoice.id, structuredClone(invoice)]));
  }

  list(owner: string, status?: InvoiceStatus): Invoice[] {
    return [...this.invoices.values()].filter((i) => i.owner === owner && (status === undefined || i.status === status)).map((i) => structuredClone(i));
  }

  /** Another owner's invoice is "not found": its existence is not the caller's business. */
  get(owner: string, id: string): Invoice | undefined {
    const invoice = this.invoices.get(id);
    return invoice && invoice.owner === owner ? structuredClone(invoice) : undefined;
  }

  /** Moves the owner's pending invoice to a new status. */
  settle(owner: string, id: string, status: "paid" | "disputed", note: string): { ok: true; invoice: Invoice } | { ok: false; why: string } {
    const invoice = this.invoices.get(id);
    if (!invoice || invoice.owner !== owner) return { ok: false, why: `there is no invoice ${id}` };
    if (invoice.status !== "pending") return { ok: false, why: `invoice ${id} is ${invoice.status}, not pending` };
    invoice.status = status;
    invoice.note = note;
    return { ok: true, invoice: structuredClone(invoice) };
  }
}

/** Invoices for two users: one payable without step-up (80), one that needs it for an agent (150). */
export function demoInvoices(): Invoice[] {
  return [
    { id: "inv-1", owner: "alice", customer: "Acme Corp", amount: 80, status: "pending" },
    { id: "inv-2", owner: "alice", customer: "Globex", amount: 150, status: "pending" },
    { id: "inv-3", owner: "alice", customer: "Initech", amount: 250, status: "pending" },
    { id: "inv-4", owner: "alice", customer: "Hooli", amount: 99, status: "paid" },
    { id: "inv-5", owner: "bob", customer: "Umbrella", amount: 3000, status: "pending" },
  ];
}
