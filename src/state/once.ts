// Keys that may be used once until they expire: DPoP proof jtis, single-use
// tokens. An insert is the atomic "first use"; the unique _id refuses a second.
import { isDuplicateKey } from "./errors.js";
import { COLLECTIONS, type StateStore } from "./store.js";

interface OnceDoc {
  _id: string;
  expiresAt: Date;
}

/**
 * Consumes `id` until `expiresAt`. True on the first use, false when it was
 * already used and has not expired. An expired entry (which a server without a
 * TTL monitor may still hold) is taken over by a conditional update, so expiry
 * never depends on the TTL sweep.
 */
export async function consumeOnce(store: StateStore, id: string, expiresAt: Date, now: Date): Promise<boolean> {
  const keys = store.collection<OnceDoc>(COLLECTIONS.once);
  try {
    await store.call("consume once", (deadline) => keys.insertOne({ _id: id, expiresAt }, deadline));
    return true;
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
  const previous = await store.call("consume once (expired entry)", (deadline) =>
    keys.findOneAndUpdate({ _id: id, expiresAt: { $lte: now } }, { $set: { expiresAt } }, { returnDocument: "before", ...deadline }),
  );
  return previous !== null;
}
