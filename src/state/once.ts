// Keys that may be used once until they expire: single-use tokens (once
// obligations, and types built on them), and DPoP proof jtis. An insert is the
// atomic "first use"; the unique _id refuses a second. A key used by a decision's
// obligation names its holder (decision, API, index) and how Release shows it, so
// Release finds it by decision and gives it back once.
//
// A key's times are kept on the database's clock, which the sweep (the TTL monitor,
// Verdict's own) goes by: callers give their process's time, converted here. A token
// is accepted up to its exp plus clock_skew_seconds on the process's clock; kept on
// the process's clock, its key was swept early by as much as that clock was behind
// the database's, and a replay in between was taken for a first use.
import type { Collection, Document } from "mongodb";
import type { Holder, Holding, ObligationShown, OncePort } from "../contract/index.js";
import { defineCollection } from "../database/index.js";
import { GIVES_BACK, StateCollection, type StateCalls } from "./calls.js";
import { isDuplicateKey } from "./errors.js";
import { Lanes, type Settled } from "./lanes.js";
import { checkedExpiry } from "./expiry.js";
import { databaseOffset, type OffsetSource } from "./database-time.js";

interface OnceDoc {
  _id: string;
  expiresAt: Date;
  /** The holder: decision, API, index (absent for a DPoP jti, which is never given back). */
  d?: string;
  api?: string;
  i?: number;
  /** How Release shows it. */
  v?: ObligationShown;
  /** Given back by a Release: usable again, and a second Release says already_released. */
  r?: 1;
}

export const ONCE_KEYS = defineCollection<OnceDoc>({ name: "once_keys", indexes: [{ key: { d: 1 }, name: "held_by" }], expiresAt: "expiresAt" });

interface OnceRef {
  id: string;
}

interface Take {
  fields: Omit<OnceDoc, "_id">;
  now: Date;
  /** Gives back what a use that failed its caller may hold (a decision's; a DPoP proof's use is never given back). */
  undo?: () => Promise<boolean>;
}

/** Single-use keys; also the token layer's DPoP replay guard (useOnce). */
export class OnceStore extends StateCollection<OnceDoc> implements OncePort {
  /**
   * Uses of one key wait for the one under way in this process: once it is taken (or
   * found taken), the others are refused without another round trip — a key is used
   * once, so a burst of replays costs one write.
   */
  private readonly lanes = new Lanes<Take, boolean>((id, takes, waitingSince) => this.takeTurn(id, takes, waitingSince));

  constructor(
    collection: Collection<OnceDoc>,
    calls: StateCalls,
    /** The database's clock; without one (tools, tests of the store alone), keys go by the times given. */
    private readonly clock?: OffsetSource,
  ) {
    super(collection, calls);
  }

  /**
   * Consumes `id` until `expiresAt` for a decision's obligation: its holding on the
   * first use, undefined while an earlier use stands.
   */
  async consume(id: string, expiresAt: Date, now: Date, holder: Holder, shown: ObligationShown): Promise<Holding | undefined> {
    const holding: Holding = { store: "once", ref: { id } satisfies OnceRef, holder, shown, released: false };
    checkedExpiry("consume once", expiresAt, now.getTime());
    const offset = await this.offset();
    const at = new Date(now.getTime() + offset);
    const fields = { expiresAt: new Date(expiresAt.getTime() + offset), d: holder.decisionId, api: holder.api, i: holder.index, v: shown };
    const undo = () => this.forget(holding);
    return (await this.take(id, fields, at, undo)) ? holding : undefined;
  }

  /** Uses `id` until `until` (a DPoP proof's jti): true the first time; never given back. */
  async useOnce(id: string, until: Date, now: Date): Promise<boolean> {
    checkedExpiry("consume once", until, now.getTime());
    const offset = await this.offset();
    return this.take(id, { expiresAt: new Date(until.getTime() + offset) }, new Date(now.getTime() + offset));
  }

  /** What to add to this process's times to have the database's (the sweep's); refused (fail closed) until it is measured. */
  private async offset(): Promise<number> {
    return this.clock ? databaseOffset(this.clock, "single-use keys") : 0;
  }

  /**
   * The insert, or, when the key exists, taking over an entry that expired (a server
   * without a TTL monitor may still hold it) or was given back: expiry never depends
   * on the TTL sweep.
   */
  private take(id: string, fields: Omit<OnceDoc, "_id">, now: Date, undo?: () => Promise<boolean>): Promise<boolean> {
    return this.lanes.submit(id, { fields, now, ...(undo ? { undo } : {}) });
  }

  private async takeTurn(id: string, takes: Take[], waitingSince: number): Promise<Settled<boolean>[]> {
    const results: Settled<boolean>[] = [];
    let settled = false;
    for (const take of takes) {
      if (settled) {
        results.push({ ok: true, value: false }); // taken (or found taken) just now
        continue;
      }
      try {
        results.push({ ok: true, value: await this.takeOne(id, take, waitingSince) });
        settled = true;
      } catch (error) {
        results.push({ ok: false, error });
      }
    }
    return results;
  }

  private async takeOne(id: string, { fields, now, undo }: Take, waitingSince: number): Promise<boolean> {
    const options = { ...(undo ? { undo } : {}), waitingSince };
    try {
      await this.calls.call("consume once", (deadline) => this.collection.insertOne({ _id: id, ...fields }, deadline), options);
      return true;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
    const unset: Document = { r: "" };
    for (const field of ["d", "api", "i", "v"] as const) if (!(field in fields)) unset[field] = "";
    const previous = await this.calls.call(
      "consume once (expired or given back)",
      (deadline) =>
        this.collection.findOneAndUpdate(
          { _id: id, $or: [{ expiresAt: { $lte: now } }, { r: 1 }] },
          { $set: fields, $unset: unset },
          { returnDocument: "before", projection: { _id: 1 }, ...deadline },
        ),
      options,
    );
    return previous !== null;
  }

  /** True when `id` is consumed and unexpired; reads only (for dry runs). */
  async isConsumed(id: string, now: Date): Promise<boolean> {
    const at = new Date(now.getTime() + (await this.offset()));
    const doc = await this.calls.call("read once", (deadline) =>
      this.collection.findOne({ _id: id, expiresAt: { $gt: at }, r: { $exists: false } }, { projection: { _id: 1 }, ...deadline }),
    );
    return doc !== null;
  }

  async holdings(decisionId: string): Promise<Holding[]> {
    const docs = await this.calls.call("find holdings", (deadline) => this.collection.find({ d: decisionId }, deadline).toArray());
    return docs.flatMap((doc) =>
      doc.api === undefined || doc.i === undefined
        ? []
        : [
            {
              store: "once" as const,
              ref: { id: doc._id } satisfies OnceRef,
              holder: { decisionId, api: doc.api, index: doc.i },
              ...(doc.v ? { shown: doc.v } : {}),
              released: doc.r === 1,
            },
          ],
    );
  }

  /** Gives a key back, only while this holder holds it: once. A rollback (`forget`) removes it; a Release marks it given back. */
  async give(holding: Holding, { forget = false }: { forget?: boolean } = {}): Promise<boolean> {
    if (forget) return this.calls.giveBack("roll back once", () => this.forget(holding));
    const filter = this.heldBy(holding);
    const result = await this.calls.call(
      "release once",
      (deadline) => this.collection.updateOne({ ...filter, r: { $exists: false } }, { $set: { r: 1 } }, deadline),
      GIVES_BACK,
    );
    return result.modifiedCount === 1;
  }

  /** One try of a rollback's give-back: removes the key while this holder holds it. */
  private async forget(holding: Holding): Promise<boolean> {
    const result = await this.calls.call("roll back once", (deadline) => this.collection.deleteOne(this.heldBy(holding), deadline), GIVES_BACK);
    return result.deletedCount === 1;
  }

  private heldBy(holding: Holding) {
    return { _id: (holding.ref as OnceRef).id, d: holding.holder.decisionId, i: holding.holder.index };
  }
}
