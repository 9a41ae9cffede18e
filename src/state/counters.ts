// Windowed counters with an atomic "add only if the total stays within the limit",
// and the reads of the state decisions declare (verdict/state_queries).
//
// Every reservation is ONE conditional update (total <= limit - amount -> $inc),
// so concurrent requests from any number of Verdict processes can never take a
// counter over its limit, on any server that applies a single-document update
// atomically (MongoDB, and mongo-java-server in tests). No transactions needed.
import type { JsonObject } from "@verdict/sdk/wire";
import type { CounterPort, CounterRef, Reservation, StateQuery, StateReader, WindowSpec } from "../contract/index.js";
import { defineCollection } from "../database/index.js";
import { StateCollection } from "./calls.js";
import { isDuplicateKey } from "./errors.js";
import { checkedExpiry } from "./expiry.js";
import { locate, type CounterLocation } from "./windows.js";

interface SlidingEntry {
  /** When (ms since the epoch). */
  t: number;
  /** How much. */
  a: number;
  /** For which decision (so a release removes exactly its entry). */
  d: string;
}

interface CounterDoc {
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

/** Calendar windows expire with their window; a sliding window's document once its newest entry left it. */
export const COUNTERS = defineCollection<CounterDoc>({ name: "counters", indexes: [], expiresAt: "expiresAt" });

type Calendar = Extract<CounterLocation, { kind: "calendar" }>;
type Sliding = Extract<CounterLocation, { kind: "sliding" }>;

export class CounterStore extends StateCollection<CounterDoc> implements CounterPort, StateReader {
  async reserve(
    key: readonly string[],
    window: WindowSpec,
    amount: number,
    limit: number,
    { nowMs, decisionId }: { nowMs: number; decisionId: string },
  ): Promise<Reservation> {
    if (amount > limit) return { ok: false };
    const at = locate(key, window, nowMs);
    const reserved =
      at.kind === "calendar"
        ? await this.reserveCalendar(at, amount, limit, nowMs, decisionId)
        : await this.reserveSliding(at, amount, limit, nowMs, decisionId);
    if (!reserved.ok) return reserved;
    return { ok: true, total: reserved.total, ref: { kind: at.kind, id: at.id }, until: at.kind === "calendar" ? at.expiresAt.getTime() : nowMs + at.windowMs };
  }

  private async reserveCalendar(
    at: Calendar,
    amount: number,
    limit: number,
    nowMs: number,
    decisionId: string,
  ): Promise<{ ok: true; total: number } | { ok: false }> {
    const expiresAt = checkedExpiry("reserve", at.expiresAt, nowMs);
    const late = () => this.unreserve(at, amount, decisionId);
    for (const upsert of [true, false]) {
      try {
        const before = await this.calls.call(
          "reserve",
          (deadline) =>
            this.collection.findOneAndUpdate(
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
  private async reserveSliding(
    at: Sliding,
    amount: number,
    limit: number,
    nowMs: number,
    decisionId: string,
  ): Promise<{ ok: true; total: number } | { ok: false }> {
    const entry: SlidingEntry = { t: nowMs, a: amount, d: decisionId };
    const expiresAt = checkedExpiry("reserve (sliding)", new Date(nowMs + at.windowMs), nowMs);
    const attempt = async (upsert: boolean): Promise<{ ok: true; total: number } | { ok: false }> => {
      const before = await this.calls.call(
        "reserve (sliding)",
        (deadline) =>
          this.collection.findOneAndUpdate(
            { _id: at.id, total: { $lte: limit - amount } },
            {
              $inc: { total: amount },
              $push: { entries: entry },
              $max: { expiresAt },
              $setOnInsert: { key: at.key, window: at.window, pv: 0 },
            },
            { upsert, returnDocument: "before", ...deadline },
          ),
        () => this.unreserve(at, amount, decisionId),
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
      const pruned = await this.prune(at);
      if (pruned === "nothing") return { ok: false };
      if (pruned === "pruned") return attempt(false);
    }
    return { ok: false };
  }

  /** Removes entries that left the window; "raced" when a concurrent prune or release won. */
  private async prune(at: Sliding): Promise<"pruned" | "nothing" | "raced"> {
    const doc = await this.calls.call("read sliding window", (deadline) => this.collection.findOne({ _id: at.id }, deadline));
    const expired = (doc?.entries ?? []).filter((entry) => entry.t <= at.cutoffMs);
    if (!doc || expired.length === 0) return "nothing";
    const sum = expired.reduce((total, entry) => total + entry.a, 0);
    const result = await this.calls.call("prune sliding window", (deadline) =>
      this.collection.updateOne({ _id: at.id, pv: doc.pv ?? 0 }, { $pull: { entries: { t: { $lte: at.cutoffMs } } }, $inc: { total: -sum, pv: 1 } }, deadline),
    );
    return result.modifiedCount === 1 ? "pruned" : "raced";
  }

  /**
   * Gives back what one decision reserved. Exact and idempotent: it takes effect only
   * if that decision's reservation is there, and removes it, so rollbacks, late-write
   * compensation and Release can overlap without ever giving back twice.
   */
  async unreserve(ref: CounterRef, amount: number, decisionId: string): Promise<void> {
    if (ref.kind === "calendar") {
      await this.calls.call("unreserve", (deadline) =>
        this.collection.updateOne({ _id: ref.id, ds: decisionId }, { $pull: { ds: decisionId }, $inc: { total: -amount } }, deadline),
      );
      return;
    }
    await this.calls.call("unreserve (sliding)", (deadline) =>
      this.collection.updateOne({ _id: ref.id, "entries.d": decisionId }, { $pull: { entries: { d: decisionId } }, $inc: { total: -amount, pv: 1 } }, deadline),
    );
  }

  /** The states of several decisions (a CheckBatch), in one round trip: every queried counter, fetched by _id. */
  async read(perDecision: readonly (readonly StateQuery[])[], nowMs: number): Promise<JsonObject[]> {
    const located = perDecision.map((queries) => queries.map((query) => ({ query, at: locate(query.key, query.window, nowMs) })));
    const ids = [...new Set(located.flat().map(({ at }) => at.id))];
    if (ids.length === 0) return perDecision.map(() => ({}));
    const docs = await this.calls.call("read state", (deadline) => this.collection.find({ _id: { $in: ids } }, deadline).toArray());
    const byId = new Map(docs.map((doc) => [doc._id, doc]));
    return located.map((queries) => {
      const state: JsonObject = {};
      for (const { query, at } of queries) {
        const doc = byId.get(at.id);
        if (!doc) state[query.name] = 0;
        else if (at.kind === "sliding") state[query.name] = liveTotal(doc.entries ?? [], at.cutoffMs);
        // expiry is honoured here, whether or not a TTL monitor has removed the document
        else state[query.name] = doc.expiresAt.getTime() > nowMs ? doc.total : 0;
      }
      return state;
    });
  }
}

function liveTotal(entries: readonly SlidingEntry[], cutoffMs: number): number {
  return entries.reduce((total, entry) => (entry.t > cutoffMs ? total + entry.a : total), 0);
}
