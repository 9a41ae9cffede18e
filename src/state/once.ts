// Keys that may be used once until they expire: DPoP proof jtis, single-use
// tokens. An insert is the atomic "first use"; the unique _id refuses a second.
import type { OncePort } from "../contract/index.js";
import { defineCollection } from "../database/index.js";
import { StateCollection } from "./calls.js";
import { isDuplicateKey } from "./errors.js";
import { checkedExpiry } from "./expiry.js";

interface OnceDoc {
  _id: string;
  expiresAt: Date;
  /** The decision that consumed it (so a release gives back exactly its own use). */
  d: string;
}

export const ONCE_KEYS = defineCollection<OnceDoc>({ name: "once_keys", indexes: [], expiresAt: "expiresAt" });

/** Single-use keys; also the token layer's DPoP replay guard. */
export class OnceStore extends StateCollection<OnceDoc> implements OncePort {
  /**
   * Consumes `id` until `expiresAt`. True on the first use, false when it was
   * already used and has not expired. An expired entry (which a server without a
   * TTL monitor may still hold) is taken over by a conditional update, so expiry
   * never depends on the TTL sweep.
   */
  async consume(id: string, expiresAt: Date, now: Date, decisionId: string): Promise<boolean> {
    checkedExpiry("consume once", expiresAt, now.getTime());
    const late = () => this.release(id, decisionId);
    try {
      await this.calls.call("consume once", (deadline) => this.collection.insertOne({ _id: id, expiresAt, d: decisionId }, deadline), late);
      return true;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
    const previous = await this.calls.call(
      "consume once (expired entry)",
      (deadline) =>
        this.collection.findOneAndUpdate(
          { _id: id, expiresAt: { $lte: now } },
          { $set: { expiresAt, d: decisionId } },
          { returnDocument: "before", ...deadline },
        ),
      late,
    );
    return previous !== null;
  }

  /** Gives a key back, only if this decision consumed it. Safe to repeat. */
  async release(id: string, decisionId: string): Promise<void> {
    await this.calls.call("release once", (deadline) => this.collection.deleteOne({ _id: id, d: decisionId }, deadline));
  }

  /** True when `id` is consumed and unexpired; reads only (for dry runs). */
  async isConsumed(id: string, now: Date): Promise<boolean> {
    const doc = await this.calls.call("read once", (deadline) => this.collection.findOne({ _id: id, expiresAt: { $gt: now } }, deadline));
    return doc !== null;
  }
}
