// Windowed counters with an atomic "add only if the total stays within the limit".
import type { Collection } from "mongodb";
import { isDuplicateKey } from "./errors.js";
import type { StateStore } from "./store.js";
import { COLLECTIONS } from "./store.js";

export interface CounterDoc {
  _id: string;
  key: string;
  window: string;
  total: number;
  expiresAt: Date;
}

export interface ReserveArgs {
  id: string;
  key: string;
  window: string;
  amount: number;
  limit: number;
  expiresAt: Date;
}

export type ReserveResult = { ok: true; total: number } | { ok: false };

/**
 * Adds `amount` to the counter only if the total stays within `limit`, in one
 * conditional update, so concurrent reservations (from any number of Verdict
 * processes) can never overspend. A missing counter is created by the upsert; when
 * two requests race to create it, the loser's insert fails on the unique _id and it
 * retries as a plain conditional update.
 */
export async function reserve(store: StateStore, args: ReserveArgs): Promise<ReserveResult> {
  if (args.amount > args.limit) return { ok: false };
  const counters = store.collection<CounterDoc>(COLLECTIONS.counters);
  for (const upsert of [true, false]) {
    try {
      const before = await store.call("reserve", (deadline) =>
        counters.findOneAndUpdate(
          { _id: args.id, total: { $lte: args.limit - args.amount } },
          { $inc: { total: args.amount }, $setOnInsert: { key: args.key, window: args.window, expiresAt: args.expiresAt } },
          // The pre-image, not the post-image: mongo-java-server can return a
          // post-image that a later update already changed; pre-images are copies.
          { upsert, returnDocument: "before", ...deadline },
        ),
      );
      // With upsert the call either applied (updated, or created the counter: no
      // pre-image) or threw; without it, no pre-image means the condition failed.
      const applied = upsert || before !== null;
      return applied ? { ok: true, total: (before?.total ?? 0) + args.amount } : { ok: false };
    } catch (error) {
      if (upsert && isDuplicateKey(error)) continue;
      throw error;
    }
  }
  return { ok: false };
}

/** Gives back a reservation (a later obligation of the same decision failed). */
export async function unreserve(store: StateStore, id: string, amount: number): Promise<void> {
  const counters: Collection<CounterDoc> = store.collection<CounterDoc>(COLLECTIONS.counters);
  await store.call("unreserve", (deadline) => counters.updateOne({ _id: id }, { $inc: { total: -amount } }, deadline));
}
