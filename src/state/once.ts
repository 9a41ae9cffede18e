// Keys that may be used once until they expire: DPoP proof jtis, single-use
// tokens. An insert is the atomic "first use"; the unique _id refuses a second.
import { isDuplicateKey } from "./errors.js";
import { checkedExpiry } from "./expiry.js";
import { COLLECTIONS, type StateStore } from "./store.js";

interface OnceDoc {
  _id: string;
  expiresAt: Date;
  /** The decision that consumed it (so a release gives back exactly its own use). */
  d: string;
}

const keys = (store: StateStore) => store.collection<OnceDoc>(COLLECTIONS.once);

/**
 * Consumes `id` until `expiresAt`. True on the first use, false when it was
 * already used and has not expired. An expired entry (which a server without a
 * TTL monitor may still hold) is taken over by a conditional update, so expiry
 * never depends on the TTL sweep.
 */
export async function consumeOnce(store: StateStore, id: string, expiresAt: Date, now: Date, decisionId: string): Promise<boolean> {
  checkedExpiry("consume once", expiresAt, now.getTime());
  const late = () => releaseOnce(store, id, decisionId);
  try {
    await store.call("consume once", (deadline) => keys(store).insertOne({ _id: id, expiresAt, d: decisionId }, deadline), late);
    return true;
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
  const previous = await store.call(
    "consume once (expired entry)",
    (deadline) => keys(store).findOneAndUpdate({ _id: id, expiresAt: { $lte: now } }, { $set: { expiresAt, d: decisionId } }, { returnDocument: "before", ...deadline }),
    late,
  );
  return previous !== null;
}

/** Gives a key back, only if this decision consumed it. Safe to repeat. */
export async function releaseOnce(store: StateStore, id: string, decisionId: string): Promise<void> {
  await store.call("release once", (deadline) => keys(store).deleteOne({ _id: id, d: decisionId }, deadline));
}

/** True when `id` is consumed and unexpired; reads only (for dry runs). */
export async function isConsumed(store: StateStore, id: string, now: Date): Promise<boolean> {
  const doc = await store.call("read once", (deadline) => keys(store).findOne({ _id: id, expiresAt: { $gt: now } }, deadline));
  return doc !== null;
}
