// What each allowed decision applied, so Release can undo exactly that, once.
// Entries are generic ({type, undo, display}): the obligation types say what their
// undo holds, and Release dispatches on the type through the registry.
import type { JsonObject } from "@verdict/sdk/wire";
import type { LedgerEntry, LedgerPort, ObligationDisplay } from "../contract/index.js";
import { defineCollection } from "../database/index.js";
import { StateCollection } from "./calls.js";
import { checkedExpiry } from "./expiry.js";

interface StoredEntry extends LedgerEntry {
  /** Claimed (set true) before the undo runs: a crash can leave budget held, never give it back twice. */
  undone: boolean;
}

/** How entries were kept before they were generic ({undo: {type, display, ...}}); such a ledger lives a day at most. */
interface LegacyEntry {
  undo: JsonObject & { type: string; display: ObligationDisplay };
  undone: boolean;
}

interface LedgerDoc {
  _id: string;
  api: string;
  entries: (StoredEntry | LegacyEntry)[];
  createdAt: Date;
  expiresAt: Date;
}

export const LEDGER = defineCollection<LedgerDoc>({ name: "obligation_ledger", indexes: [], expiresAt: "expiresAt" });

export class LedgerStore extends StateCollection<LedgerDoc> implements LedgerPort {
  async record(decisionId: string, api: string, entries: readonly LedgerEntry[], now: Date, expiresAt: Date): Promise<void> {
    checkedExpiry("record obligations", expiresAt, now.getTime());
    const doc: LedgerDoc = { _id: decisionId, api, entries: entries.map((entry) => ({ ...entry, undone: false })), createdAt: now, expiresAt };
    await this.calls.call(
      "record obligations",
      (deadline) => this.collection.insertOne(doc, deadline),
      // Landed after the decision was denied (and its obligations rolled back): not a decision to release.
      () => this.collection.deleteOne({ _id: decisionId }),
    );
  }

  async find(decisionId: string, now: Date): Promise<{ api: string; entries: StoredEntry[] } | undefined> {
    const doc = await this.calls.call("read ledger", (deadline) => this.collection.findOne({ _id: decisionId, expiresAt: { $gt: now } }, deadline));
    return doc ? { api: doc.api, entries: doc.entries.map(current) } : undefined;
  }

  async claim(decisionId: string, index: number): Promise<boolean> {
    const field = `entries.${index}.undone`;
    const claimed = await this.calls.call("claim release", (deadline) =>
      this.collection.updateOne({ _id: decisionId, [field]: false }, { $set: { [field]: true } }, deadline),
    );
    return claimed.modifiedCount === 1;
  }
}

function current(entry: StoredEntry | LegacyEntry): StoredEntry {
  if ("type" in entry) return entry;
  const { type, display, ...undo } = entry.undo;
  return { type, undo, display, undone: entry.undone };
}
