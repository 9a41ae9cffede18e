// Windowed counters with an atomic "add only if the total stays within the limit",
// the reads of the state decisions declare (verdict/state_queries), and what each
// decision holds in them, so that Release and rollbacks give back exactly that.
//
// Every reservation is ONE conditional update (total <= limit - amount -> $inc),
// so concurrent requests from any number of Verdict processes can never take a
// counter over its limit, on any server that applies a single-document update
// atomically (MongoDB, and mongo-java-server in tests). No transactions needed.
// The same update records who holds the amount (the decision, its API, the
// obligation's index): the ledger lives in the counter, so a reservation is one
// round trip, and giving it back is one conditional update on the same document —
// exactly once, whoever tries and however late their writes land.
//
// Documents are bounded whatever the traffic: `h` keeps the last RELEASABLE
// reservations (older ones stay counted, and can no longer be released), `x` the
// last RELEASABLE releases, and a sliding window keeps its amounts in at most
// BUCKETS + DEAD_BUCKETS_KEPT time buckets. Replies are bounded too: a reservation asks for the
// total (and the buckets) only.
import type { Collection, Document } from "mongodb";
import type { JsonObject } from "@verdict/sdk/wire";
import type { CounterPort, Holder, Holding, Reservation, ReserveAt, StateQuery, StateReader, WindowSpec } from "../contract/index.js";
import { windowLabel } from "../contract/index.js";
import { defineCollection } from "../database/index.js";
import { GIVES_BACK, StateCollection, type StateCalls } from "./calls.js";
import { isDuplicateKey } from "./errors.js";
import { checkedExpiry } from "./expiry.js";
import { Lanes, type Settled } from "./lanes.js";
import { ReadBatcher } from "./read-batcher.js";
import { locate, type CounterLocation } from "./windows.js";

/** Reservations a counter keeps releasable (newest first); older ones are only counted. */
export const RELEASABLE = 100;

/**
 * Buckets that left a sliding window a document may keep (still counted in its
 * total, not in what a read or a reservation's reply says) before a reservation
 * prunes them, while its counter is at most half full: a document holds at most
 * BUCKETS + DEAD_BUCKETS_KEPT buckets.
 */
export const DEAD_BUCKETS_KEPT = 6;

/** One reservation held in a counter. */
interface Held {
  /** Decision id, its API, the obligation's index in the decision. */
  d: string;
  api: string;
  i: number;
  /** Amount, obligation type, its limit. */
  a: number;
  o: string;
  l: number;
  /** Sliding windows: the bucket the amount is in (its start, seconds since the epoch). */
  s?: number;
}

/** A reservation that was given back by a Release (so a second one says already_released). */
interface Released {
  d: string;
  api: string;
  i: number;
}

interface CounterDoc {
  _id: string;
  key: string;
  window: string;
  /** What counts against the limit now; in a sliding window it may still include buckets that left it (pruned later). */
  total: number;
  expiresAt: Date;
  h?: Held[];
  x?: Released[];
  /** Sliding windows: amount per bucket start (seconds since the epoch). */
  b?: Record<string, number>;
  /** Sliding windows written before buckets: one entry per reservation, and their version (converted into buckets on first prune). */
  entries?: { t: number; a: number }[];
  pv?: number;
}

/**
 * How long a counter is kept after its window ended (a calendar window) or its newest bucket left it (a sliding
 * one): a reservation still on its way then (it waited for its lane and the database) finds the counter full as it
 * was, rather than deleted and created again empty, which would allow a window's limit twice.
 */
export const EXPIRY_GRACE_MS = 10 * 60_000;

/** Calendar windows expire EXPIRY_GRACE_MS after their window; a sliding window's document after its newest bucket left it. */
export const COUNTERS = defineCollection<CounterDoc>({
  name: "counters",
  indexes: [
    { key: { "h.d": 1 }, name: "held_by" },
    { key: { "x.d": 1 }, name: "released_by" },
  ],
  expiresAt: "expiresAt",
});

type Sliding = Extract<CounterLocation, { kind: "sliding" }>;

/** Where a holding is, for give(): the document, and the bucket of a sliding window. */
interface CounterRef {
  id: string;
  amount: number;
  bucket: number | null;
}

/** Projections: a reply carries the total (and a sliding window's buckets), never the holders. */
const TOTAL = { total: 1 } as const;
const TOTAL_AND_BUCKETS = { total: 1, b: 1, pv: 1 } as const;
const READ = { total: 1, b: 1, expiresAt: 1, window: 1 } as const;

/** A reservation as it was asked for, and when (performance.now()): where it goes is worked out from it. */
interface ReservationRequest {
  key: readonly string[];
  window: WindowSpec;
  amount: number;
  limit: number;
  nowMs: number;
  holder: Holder;
  type: string;
  /** Never given back, not even when its write lands late (a brake's count): no undo. */
  forGood: boolean;
  submittedAt: number;
}

/** One reservation waiting in its counter's lane. */
interface PendingReservation {
  request: ReservationRequest;
  at: CounterLocation;
  held: Held;
  holding: Holding;
  expiresAt: Date;
}

/** Rounds of read-and-retry a turn makes while other processes keep changing the counter. */
const MAX_ROUNDS = 8;

export class CounterStore extends StateCollection<CounterDoc> implements CounterPort, StateReader {
  private readonly reads: ReadBatcher<CounterDoc>;
  private readonly lanes = new Lanes<PendingReservation, Reservation>((id, items, waitingSince) => this.reserveTurn(id, items, waitingSince));
  /**
   * Sliding documents with a prune under way in this process (one at a time each), and
   * the window of the latest prune asked for meanwhile, run once that one is done.
   */
  private readonly pruning = new Map<string, Sliding | undefined>();

  constructor(collection: Collection<CounterDoc>, calls: StateCalls) {
    super(collection, calls);
    this.reads = new ReadBatcher((ids, waitingSince) =>
      this.calls.call("read state", (deadline) => this.collection.find({ _id: { $in: ids } }, { projection: READ, ...deadline }).toArray(), { waitingSince }),
    );
  }

  async reserve(
    key: readonly string[],
    window: WindowSpec,
    amount: number,
    limit: number,
    { nowMs, holder, type, forGood = false }: ReserveAt,
  ): Promise<Reservation> {
    if (amount > limit) return { ok: false };
    const request: ReservationRequest = { key, window, amount, limit, nowMs, holder, type, forGood, submittedAt: performance.now() };
    const pending = this.pendingAt(request, nowMs);
    return this.lanes.submit(pending.at.id, pending);
  }

  /**
   * A reservation located at `nowMs`: its counter (and a sliding window's bucket), its holder's record, and when the
   * counter may expire.
   */
  private pendingAt(request: ReservationRequest, nowMs: number): PendingReservation {
    const { key, window, amount, limit, holder, type } = request;
    const at = locate(key, window, nowMs);
    const held: Held = {
      d: holder.decisionId,
      api: holder.api,
      i: holder.index,
      a: amount,
      o: type,
      l: limit,
      ...(at.kind === "sliding" ? { s: at.bucket } : {}),
    };
    const endsAt = at.kind === "calendar" ? at.expiresAt.getTime() : (at.bucket + at.bucketSeconds) * 1000 + at.windowMs;
    const expiresAt = checkedExpiry("reserve", new Date(endsAt + EXPIRY_GRACE_MS), nowMs);
    return { request, at, held, holding: this.holding(at.id, at.key, windowLabel(window), held, false), expiresAt };
  }

  /**
   * A sliding window's reservation as of its turn: moved by the time it waited in its lane, so that it counts for
   * the whole window from when it is written, not from when it was asked for (its document does not depend on the
   * time, its bucket does). A calendar window's stays: its document is the window's, kept EXPIRY_GRACE_MS past it.
   */
  private asOfTurn(item: PendingReservation): PendingReservation {
    const { at, request } = item;
    if (at.kind !== "sliding") return item;
    const nowMs = request.nowMs + Math.max(0, performance.now() - request.submittedAt);
    // Most turns come within the bucket they were asked in: nothing moves.
    if (Math.floor(nowMs / 1000 / at.bucketSeconds) * at.bucketSeconds === at.bucket) return item;
    return this.pendingAt(request, nowMs);
  }

  /**
   * One turn of a counter's lane: the reservations that arrived for it meanwhile, in
   * arrival order, each of which must fit on its own terms, as if they came one by
   * one (total so far + its amount <= its limit). All of them in one conditional
   * update when they fit together; otherwise the document is read, the ones that
   * fit are chosen in order, and those are tried together again (another process
   * may have written meanwhile). A reservation is only ever refused for want of room
   * (or, after MAX_ROUNDS of contention, refused too: too much, never too little).
   */
  private async reserveTurn(id: string, asked: PendingReservation[], waitingSince: number): Promise<Settled<Reservation>[]> {
    const items = asked.map((item) => this.asOfTurn(item));
    const results: (Reservation | undefined)[] = items.map(() => undefined);
    let pending = items;
    let upsert = true;
    /** The counter as last read in this turn, if it was there (a sliding window's refusals say from it when they would fit). */
    let read: CounterDoc | undefined;
    for (let round = 0; pending.length > 0 && round < MAX_ROUNDS; round++) {
      const before = await this.reserveTogether(id, pending, upsert, waitingSince);
      if (before !== "refused") {
        let total = 0;
        for (const item of pending) {
          total += item.held.a;
          const base = item.at.kind === "sliding" ? liveTotal(before?.b, item.at) : (before?.total ?? 0);
          results[items.indexOf(item)] = { ok: true, total: base + total, holding: item.holding };
        }
        const newest = pending[pending.length - 1] as PendingReservation;
        if (newest.at.kind === "sliding" && before) this.tidy(before, newest.at, pending);
        break;
      }
      upsert = false;
      const sliding = pending.find((item) => item.at.kind === "sliding")?.at as Sliding | undefined;
      // One calendar reservation that does not fit: nothing to choose.
      if (pending.length === 1 && !sliding) break;
      const doc = await this.calls.call("read counter", (deadline) => this.collection.findOne({ _id: id }, { projection: TOTAL_AND_BUCKETS, ...deadline }), {
        waitingSince,
      });
      read = doc ?? undefined;
      // Gone meanwhile (expired and swept): created again, with the ones that fit in an empty counter.
      if (doc === null) upsert = true;
      // A sliding window's total may still count buckets that left it: prune them and try again.
      else if (sliding && (hasDeadBuckets(doc, sliding) || doc.pv !== undefined)) {
        await this.prune(sliding);
        continue;
      }
      let total = doc?.total ?? 0;
      pending = pending.filter((item) => {
        if (total + item.held.a > item.held.l) return false;
        total += item.held.a;
        return true;
      });
    }
    const taken = items.reduce((sum, item, index) => sum + (results[index]?.ok ? item.held.a : 0), 0);
    return items.map((item, index) => ({ ok: true, value: results[index] ?? refused(item.at, read, taken, item.held) }));
  }

  /**
   * The reservations together: one update, conditional on the total leaving room for
   * each of them in turn. The pre-image (its total, and a sliding window's buckets),
   * null when it created the counter, or "refused" when they do not all fit.
   */
  private async reserveTogether(id: string, items: PendingReservation[], upsert: boolean, waitingSince: number): Promise<CounterDoc | null | "refused"> {
    let amount = 0;
    let room = Infinity;
    const inc: Record<string, number> = { total: 0 };
    let expiresAt = (items[0] as PendingReservation).expiresAt;
    for (const { held, expiresAt: until } of items) {
      amount += held.a;
      room = Math.min(room, held.l - amount);
      inc["total"] = amount;
      if (held.s !== undefined) inc[`b.${held.s}`] = (inc[`b.${held.s}`] ?? 0) + held.a;
      if (until > expiresAt) expiresAt = until;
    }
    if (room < 0) return "refused";
    const first = items[0] as PendingReservation;
    const sliding = first.at.kind === "sliding";
    const update: Document = {
      $inc: inc,
      $push: { h: { $each: items.map((item) => item.held), $slice: -RELEASABLE } },
      ...(sliding
        ? { $max: { expiresAt }, $setOnInsert: { key: first.at.key, window: first.at.window } }
        : { $setOnInsert: { key: first.at.key, window: first.at.window, expiresAt } }),
    };
    // What a late (or unknown) write holds is given back, but for counts kept for good (a brake's): those stay counted.
    const givenBack = items.filter((item) => !item.request.forGood);
    const undo = givenBack.length > 0 ? async () => (await Promise.all(givenBack.map((item) => this.giveOnce(item.holding, true)))).some(Boolean) : undefined;
    const attempt = async (upsert: boolean): Promise<CounterDoc | null | "refused"> => {
      const before = await this.calls.call(
        "reserve",
        (deadline) =>
          this.collection.findOneAndUpdate({ _id: id, total: { $lte: room } }, update, {
            upsert,
            // The pre-image, not the post-image: mongo-java-server can return a
            // post-image that a later update already changed; pre-images are copies.
            returnDocument: "before",
            projection: sliding ? TOTAL_AND_BUCKETS : TOTAL,
            ...deadline,
          }),
        { undo, waitingSince },
      );
      // With upsert the call either applied (updated, or created the counter: no
      // pre-image) or threw; without it, no pre-image means the condition failed.
      return upsert || before !== null ? before : "refused";
    };
    try {
      return await attempt(upsert);
    } catch (error) {
      // Two requests raced to create the counter, or it exists and is full: retry as an update.
      if (!upsert || !isDuplicateKey(error)) throw error;
      return attempt(false);
    }
  }

  /** Every reservation `decisionId` holds, or held and gave back, in any counter. */
  async holdings(decisionId: string): Promise<Holding[]> {
    const docs = await this.calls.call("find holdings", (deadline) =>
      this.collection.find({ $or: [{ "h.d": decisionId }, { "x.d": decisionId }] }, { projection: { key: 1, window: 1, h: 1, x: 1 }, ...deadline }).toArray(),
    );
    return docs.flatMap((doc) => {
      const label = windowLabelOf(doc.window);
      const released = (doc.x ?? []).filter((x) => x.d === decisionId);
      const held = (doc.h ?? []).filter((h) => h.d === decisionId && !released.some((x) => x.i === h.i));
      return [
        ...held.map((h) => this.holding(doc._id, doc.key, label, h, false)),
        ...released.map((x) => ({ store: "counters" as const, ref: {}, holder: { decisionId, api: x.api, index: x.i }, shown: undefined, released: true })),
      ];
    });
  }

  /**
   * Gives one reservation back, once: it takes effect only while the document still
   * holds it, and removes it in the same update, so rollbacks, late-write
   * compensation and Releases can overlap without ever giving back twice. A Release
   * leaves a trace (`x`); a rollback (`forget`) does not. True when this call gave it back.
   */
  give(holding: Holding, { forget = false }: { forget?: boolean } = {}): Promise<boolean> {
    return forget ? this.calls.giveBack("roll back a reservation", () => this.giveOnce(holding, true)) : this.giveOnce(holding, false);
  }

  /** One try of give(): a rollback (`forget`) or a Release. */
  private async giveOnce(holding: Holding, forget: boolean): Promise<boolean> {
    const { id, amount, bucket } = holding.ref as CounterRef;
    const { decisionId: d, index: i, api } = holding.holder;
    const filter = { _id: id, h: { $elemMatch: { d, i } } };
    const trace = forget ? {} : { $push: { x: { $each: [{ d, api, i }], $slice: -RELEASABLE } } };
    const what = forget ? "roll back a reservation" : "release a reservation";
    if (bucket === null) {
      const result = await this.calls.call(
        what,
        (deadline) => this.collection.updateOne(filter, { $pull: { h: { d, i } }, $inc: { total: -amount }, ...trace }, deadline),
        GIVES_BACK,
      );
      return result.modifiedCount === 1;
    }
    // Sliding: the amount leaves the total only while its bucket is still there (a pruned bucket already took it out).
    const field = `b.${bucket}`;
    const live = await this.calls.call(
      what,
      (deadline) =>
        this.collection.updateOne(
          { ...filter, [field]: { $exists: true } },
          { $pull: { h: { d, i } }, $inc: { total: -amount, [field]: -amount }, ...trace },
          deadline,
        ),
      GIVES_BACK,
    );
    if (live.modifiedCount === 1) return true;
    const expired = await this.calls.call(
      what,
      (deadline) => this.collection.updateOne({ ...filter, [field]: { $exists: false } }, { $pull: { h: { d, i } }, ...trace }, deadline),
      GIVES_BACK,
    );
    return expired.modifiedCount === 1;
  }

  /**
   * The states of several decisions (a CheckBatch, or concurrent Checks whose reads
   * are batched together), by query name: every queried counter, fetched by _id.
   */
  async read(perDecision: readonly (readonly StateQuery[])[], nowMs: number): Promise<JsonObject[]> {
    const located = perDecision.map((queries) => queries.map((query) => ({ query, at: locate(query.key, query.window, nowMs) })));
    const ids = [...new Set(located.flat().map(({ at }) => at.id))];
    if (ids.length === 0) return perDecision.map(() => ({}));
    const byId = await this.reads.read(ids);
    return located.map((queries) => {
      const state: JsonObject = {};
      for (const { query, at } of queries) {
        const doc = byId.get(at.id);
        if (!doc) state[query.name] = 0;
        else if (at.kind === "sliding") state[query.name] = liveTotal(doc.b, at);
        // expiry is honoured here, whether or not a TTL monitor has removed the document
        else state[query.name] = doc.expiresAt.getTime() > nowMs ? doc.total : 0;
      }
      return state;
    });
  }

  private holding(id: string, key: string, window: string, held: Held, released: boolean): Holding {
    return {
      store: "counters",
      ref: { id, amount: held.a, bucket: held.s ?? null } satisfies CounterRef,
      holder: { decisionId: held.d, api: held.api, index: held.i },
      shown: { type: held.o, key, amount: held.a, limit: held.l, window },
      released,
    };
  }

  /**
   * After a turn on a sliding window, from its reply (the document just before the
   * turn's update): prunes the buckets that left the window once DEAD_BUCKETS_KEPT
   * have, or once the counter is past half its limit, where what they still count
   * could refuse a reservation that fits (one that does not fit prunes first
   * anyway). Far from its limit, a busy counter is so pruned every few buckets, not
   * after every reservation. The reply's buckets are the prune's reading: a dead
   * bucket is one this turn did not write, and the prune's condition finds out if
   * anyone else did.
   */
  private tidy(before: CounterDoc, at: Sliding, turn: readonly PendingReservation[]): void {
    if (before.pv !== undefined) return this.pruneLater(at); // converted from a read of its entries
    const dead = deadBuckets(before, at).length;
    if (dead === 0) return;
    let total = before.total;
    let limit = Infinity;
    for (const { held } of turn) {
      total += held.a;
      limit = Math.min(limit, held.l);
    }
    if (dead >= DEAD_BUCKETS_KEPT || total * 2 > limit) this.pruneLater(at, before);
  }

  /**
   * Prunes in the background, off the decision's path, one prune per document at a
   * time. One asked for while another is under way runs after it, reading the document
   * again: the one under way prunes what was dead when its document was read, and a
   * bucket may have left the window since (dropping the request left that bucket to
   * the next reservation's turn).
   */
  private pruneLater(at: Sliding, known?: CounterDoc): void {
    if (this.pruning.has(at.id)) {
      this.pruning.set(at.id, at);
      return;
    }
    this.pruning.set(at.id, undefined);
    void this.prune(at, known)
      .catch(() => undefined) // housekeeping: the next reservation tries again
      .finally(() => {
        const again = this.pruning.get(at.id);
        this.pruning.delete(at.id);
        if (again) this.pruneLater(again);
      });
  }

  /**
   * Removes the buckets that left the window, with their holders, and takes their
   * amounts out of the total, in one update conditional on each bucket still holding what was read
   * (a concurrent prune or release changes it, and this one then does nothing):
   * never subtracted twice. "raced" when that happened. `known`: the document as
   * a reservation's reply showed it, instead of reading it again.
   */
  private async prune(at: Sliding, known?: CounterDoc): Promise<"pruned" | "nothing" | "raced"> {
    const doc =
      known ??
      (await this.calls.call("read sliding window", (deadline) =>
        this.collection.findOne({ _id: at.id }, { projection: { ...TOTAL_AND_BUCKETS, entries: 1 }, ...deadline }),
      ));
    if (doc?.pv !== undefined) return this.convert(doc, at);
    const dead = doc ? deadBuckets(doc, at) : [];
    if (!doc || dead.length === 0) return "nothing";
    const filter: Document = { _id: at.id };
    const unset: Document = {};
    let sum = 0;
    for (const [start, amount] of dead) {
      filter[`b.${start}`] = amount;
      unset[`b.${start}`] = "";
      sum += amount;
    }
    // The holders of those buckets go with them: a late reservation (its bucket from its decision's time)
    // may create a bucket of the same start again, and a give-back of theirs would take from its amount.
    const starts = dead.map(([start]) => Number(start));
    const result = await this.calls.call("prune sliding window", (deadline) =>
      this.collection.updateOne(filter, { $unset: unset, $inc: { total: -sum }, $pull: { h: { s: { $in: starts } } } }, deadline),
    );
    return result.modifiedCount === 1 ? "pruned" : "raced";
  }

  /**
   * A document written before buckets (one entry per reservation, a version `pv`):
   * its live entries go into their buckets, the dead ones out of the total, in one
   * update guarded by the version (a process not yet upgraded may still prune it).
   */
  private async convert(doc: CounterDoc, at: Sliding): Promise<"pruned" | "raced"> {
    const inc: Record<string, number> = { total: 0 };
    for (const entry of doc.entries ?? []) {
      if (entry.t <= at.cutoffMs) inc["total"] = (inc["total"] ?? 0) - entry.a;
      else {
        const field = `b.${Math.floor(entry.t / 1000 / at.bucketSeconds) * at.bucketSeconds}`;
        inc[field] = (inc[field] ?? 0) + entry.a;
      }
    }
    const result = await this.calls.call("convert sliding window", (deadline) =>
      this.collection.updateOne({ _id: at.id, pv: doc.pv }, { $unset: { entries: "", pv: "" }, $inc: inc }, deadline),
    );
    return result.modifiedCount === 1 ? "pruned" : "raced";
  }
}

/**
 * A reservation refused for want of room, saying when its amount would fit if
 * nothing else were taken: a calendar window's end, or when enough of a sliding
 * window's oldest buckets (as last read, with what this turn took in the newest) have
 * left it; unread, when every bucket counted now has.
 */
function refused(at: CounterLocation, read: CounterDoc | undefined, taken: number, held: Held): Reservation {
  if (at.kind === "calendar") return { ok: false, fitsAtMs: at.expiresAt.getTime() };
  const leaves = (start: number) => (start + at.bucketSeconds) * 1000 + at.windowMs;
  if (!read) return { ok: false, fitsAtMs: leaves(at.bucket) };
  const counted = new Map<number, number>();
  for (const [start, amount] of Object.entries(read.b ?? {})) if (!isDead(Number(start), at)) counted.set(Number(start), amount);
  counted.set(at.bucket, (counted.get(at.bucket) ?? 0) + taken);
  let total = 0;
  for (const amount of counted.values()) total += amount;
  let fitsAtMs = at.cutoffMs + at.windowMs;
  for (const [start, amount] of [...counted].sort(([a], [b]) => a - b)) {
    if (total + held.a <= held.l) break;
    total -= amount;
    fitsAtMs = leaves(start);
  }
  return { ok: false, fitsAtMs };
}

/** A bucket is dead once every amount in it is older than the window: counted until its end plus the window, never less. */
function isDead(start: number, at: Sliding): boolean {
  return (start + at.bucketSeconds) * 1000 <= at.cutoffMs;
}

function hasDeadBuckets(doc: CounterDoc, at: Sliding): boolean {
  return Object.keys(doc.b ?? {}).some((start) => isDead(Number(start), at));
}

/** The buckets that left the window: [start, amount]. */
function deadBuckets(doc: CounterDoc, at: Sliding): [string, number][] {
  return Object.entries(doc.b ?? {}).filter(([start]) => isDead(Number(start), at));
}

function liveTotal(buckets: Record<string, number> | undefined, at: Sliding): number {
  let total = 0;
  for (const [start, amount] of Object.entries(buckets ?? {})) if (!isDead(Number(start), at)) total += amount;
  return total;
}

/** The window as policies name it, from a document's window ("day:2026-11-24" → "day", "sliding:60"). */
function windowLabelOf(window: string): string {
  return window.startsWith("sliding:") ? window : (window.split(":")[0] ?? window);
}
