// What each allowed decision applied, so Release can undo exactly that, once.
import { unreserve } from "./counters.js";
import { checkedExpiry } from "./expiry.js";
import { releaseOnce } from "./once.js";
import { COLLECTIONS, type StateStore } from "./store.js";

/** One applied obligation, as it must be undone. */
export type Undo =
  | { type: "reserve" | "rate"; window: "calendar" | "sliding"; id: string; amount: number; display: UndoDisplay }
  | { type: "once"; id: string; display: UndoDisplay };

export interface UndoDisplay {
  key: string;
  amount: number;
  limit: number;
  window: string;
}

interface LedgerEntry {
  undo: Undo;
  /** Claimed (set true) before the undo runs: a crash can leave budget held, never give it back twice. */
  undone: boolean;
}

interface LedgerDoc {
  _id: string;
  api: string;
  entries: LedgerEntry[];
  createdAt: Date;
  expiresAt: Date;
}

export type ReleaseStatus = "released" | "already_released" | "unknown_decision";

export type ReleasedObligation = UndoDisplay & { type: Undo["type"] };

const ledger = (store: StateStore) => store.collection<LedgerDoc>(COLLECTIONS.ledger);

export async function undo(store: StateStore, item: Undo, decisionId: string): Promise<void> {
  if (item.type === "once") await releaseOnce(store, item.id, decisionId);
  else await unreserve(store, item.window, item.id, item.amount, decisionId);
}

export async function recordApplied(store: StateStore, decisionId: string, api: string, undos: readonly Undo[], now: Date, expiresAt: Date): Promise<void> {
  checkedExpiry("record obligations", expiresAt, now.getTime());
  await store.call(
    "record obligations",
    (deadline) => ledger(store).insertOne({ _id: decisionId, api, entries: undos.map((item) => ({ undo: item, undone: false })), createdAt: now, expiresAt }, deadline),
    // Landed after the decision was denied (and its obligations rolled back): not a decision to release.
    () => ledger(store).deleteOne({ _id: decisionId }),
  );
}

/**
 * Undoes the obligations of `decisionId`, made for `api`. Idempotent twice over:
 * each entry is claimed with a conditional update before it is undone (so a second
 * release reports already_released), and every undo itself only removes what that
 * decision added, so it can never give back more than was taken. Another API's decision is reported as
 * unknown, as is one whose ledger expired with its windows.
 */
export async function releaseDecision(store: StateStore, decisionId: string, api: string, now: Date): Promise<{ status: ReleaseStatus; released: ReleasedObligation[] }> {
  const doc = await store.call("read ledger", (deadline) => ledger(store).findOne({ _id: decisionId, expiresAt: { $gt: now } }, deadline));
  if (!doc || doc.api !== api) return { status: "unknown_decision", released: [] };
  const released: ReleasedObligation[] = [];
  for (const [i, entry] of doc.entries.entries()) {
    if (entry.undone) continue;
    const claimed = await store.call("claim release", (deadline) =>
      ledger(store).updateOne({ _id: decisionId, [`entries.${i}.undone`]: false }, { $set: { [`entries.${i}.undone`]: true } }, deadline),
    );
    if (claimed.modifiedCount !== 1) continue;
    await undo(store, entry.undo, decisionId);
    released.push({ type: entry.undo.type, ...entry.undo.display });
  }
  return { status: released.length > 0 ? "released" : "already_released", released };
}
