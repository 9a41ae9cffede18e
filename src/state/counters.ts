// Windowed counters with an atomic "add only if the total stays within the limit".
//
// Every reservation is ONE conditional update (total <= limit - amount -> $inc),
// so concurrent requests from any number of Verdict processes can never take a
// counter over its limit, on any server that applies a single-document update
// atomically (MongoDB, and mongo-java-server in tests). No transactions needed.
import type { Collection } from "mongodb";
import { isDuplicateKey } from "./errors.js";
import { checkedExpiry } from "./expiry.js";
import { COLLECTIONS, type StateStore } from "./store.js";
import type { CounterLocation } from "./windows.js";

export interface SlidingEntry {
  /** When (ms since the epoch). */
  t: number;
  /** How much. */
  a: number;
  /** For which decision (so a release removes exactly its entry). */
  d: string;
}

export interface CounterDoc {
  _id: string;
  key: string;
  window: string;
  total: number;
  expiresAt: Date;
  /** Calendar windows: the decisions that added to the total (so an undo is exact and happens once). */
  ds?: string[];
  /** Sliding windows only. */
  entries?: SlidingEntry[];
  /** Sliding windows only: bumped by pruning and releases, which must not race each other. */
  pv?: number;
}

export type ReserveResult = { ok: true; total: number } | { ok: false };

const counters = (store: StateStore): Collection<CounterDoc> => store.collection<CounterDoc>(COLLECTIONS.counters);

export async function reserve(store: StateStore, at: CounterLocation, amount: number, limit: number, nowMs: number, decisionId: string): Promise<ReserveResult> {
  if (amount > limit) return { ok: false };
  return at.kind === "calendar" ? reserveCalendar(store, at, amount, limit, nowMs, decisionId) : reserveSliding(store, at, amount, limit, nowMs, decisionId);
}

async function reserveCalendar(
  store: StateStore,
  at: Extract<CounterLocation, { kind: "calendar" }>,
  amount: number,
  limit: number,
  nowMs: number,
  decisionId: string,
): Promise<ReserveResult> {
  const expiresAt = checkedExpiry("reserve", at.expiresAt, nowMs);
  const late = () => unreserve(store, "calendar", at.id, amount, decisionId);
  for (const upsert of [true, false]) {
    try {
      const before = await store.call(
        "reserve",
        (deadline) =>
          counters(store).findOneAndUpdate(
            { _id: at.id, total: { $lte: limit - amount } },
            { $inc: { total: amount }, $push: { ds: decisionId }, $setOnInsert: { key: at.key, window: at.window, expiresAt } },
            // The pre-image, not the post-image: mongo-java-server can return a
            // post-image that a later update already changed; pre-images are copies.
            { upsert, returnDocument: "before", ...deadline },
          ),
        late,
      );
      // With upsert the call either applied (updated, or created the counter: no
      // pre-image) or threw; without it, no pre-image means the condition failed.
      if (upsert || before !== null) return { ok: true, total: (before?.total ?? 0) + amount };
      return { ok: false };
    } catch (error) {
      // Two requests raced to create the counter: the loser retries as an update.
      if (upsert && isDuplicateKey(error)) continue;
      throw error;
    }
  }
  return { ok: false };
}

/**
 * A sliding window keeps `total` and one entry per reservation. The reservation
 * itself is the same single conditional update as for calendar windows (plus a
 * $push of its entry). Entries that left the window still count in `total` until
 * they are pruned, which can only refuse too much, never allow too much; when a
 * reservation does not fit, expired entries are pruned (under the pv guard, so a
 * concurrent prune or release cannot subtract the same entries twice) and it is
 * tried again.
 */
async function reserveSliding(
  store: StateStore,
  at: Extract<CounterLocation, { kind: "sliding" }>,
  amount: number,
  limit: number,
  nowMs: number,
  decisionId: string,
): Promise<ReserveResult> {
  const entry: SlidingEntry = { t: nowMs, a: amount, d: decisionId };
  const expiresAt = checkedExpiry("reserve (sliding)", new Date(nowMs + at.windowMs), nowMs);
  const attempt = async (upsert: boolean): Promise<ReserveResult> => {
    const before = await store.call(
      "reserve (sliding)",
      (deadline) =>
        counters(store).findOneAndUpdate(
          { _id: at.id, total: { $lte: limit - amount } },
          {
            $inc: { total: amount },
            $push: { entries: entry },
            $max: { expiresAt },
            $setOnInsert: { key: at.key, window: at.window, pv: 0 },
          },
          { upsert, returnDocument: "before", ...deadline },
        ),
      () => unreserve(store, "sliding", at.id, amount, decisionId),
    );
    if (!upsert && before === null) return { ok: false };
    return { ok: true, total: liveTotal(before?.entries ?? [], at.cutoffMs) + amount };
  };

  try {
    const first = await attempt(true);
    if (first.ok) return first;
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
    const retried = await attempt(false);
    if (retried.ok) return retried;
  }
  for (let round = 0; round < 3; round++) {
    const pruned = await prune(store, at);
    if (pruned === "nothing") return { ok: false };
    if (pruned === "pruned") return attempt(false);
  }
  return { ok: false };
}

/** Removes entries that left the window; "raced" when a concurrent prune or release won. */
async function prune(store: StateStore, at: Extract<CounterLocation, { kind: "sliding" }>): Promise<"pruned" | "nothing" | "raced"> {
  const doc = await store.call("read sliding window", (deadline) => counters(store).findOne({ _id: at.id }, deadline));
  const expired = (doc?.entries ?? []).filter((entry) => entry.t <= at.cutoffMs);
  if (!doc || expired.length === 0) return "nothing";
  const sum = expired.reduce((total, entry) => total + entry.a, 0);
  const result = await store.call("prune sliding window", (deadline) =>
    counters(store).updateOne({ _id: at.id, pv: doc.pv ?? 0 }, { $pull: { entries: { t: { $lte: at.cutoffMs } } }, $inc: { total: -sum, pv: 1 } }, deadline),
  );
  return result.modifiedCount === 1 ? "pruned" : "raced";
}

export function liveTotal(entries: readonly SlidingEntry[], cutoffMs: number): number {
  return entries.reduce((total, entry) => (entry.t > cutoffMs ? total + entry.a : total), 0);
}

/**
 * Gives back what one decision reserved. Exact and idempotent: it takes effect only
 * if that decision's reservation is there, and removes it, so rollbacks, late-write
 * compensation and Release can overlap without ever giving back twice.
 */
export async function unreserve(store: StateStore, kind: CounterLocation["kind"], id: string, amount: number, decisionId: string): Promise<void> {
  if (kind === "calendar") {
    await store.call("unreserve", (deadline) =>
      counters(store).updateOne({ _id: id, ds: decisionId }, { $pull: { ds: decisionId }, $inc: { total: -amount } }, deadline),
    );
    return;
  }
  await store.call("unreserve (sliding)", (deadline) =>
    counters(store).updateOne({ _id: id, "entries.d": decisionId }, { $pull: { entries: { d: decisionId } }, $inc: { total: -amount, pv: 1 } }, deadline),
  );
}
