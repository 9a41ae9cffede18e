// The `suspensions` collection (one document per source and target) and the one
// version document every change bumps, on the process's one Database. Replicas
// follow changes through a change stream where the server has them, else by
// polling the version (follower.ts); either way they reload the whole (small) set.
import { MongoServerError, type ChangeStream, type Collection, type Filter } from "mongodb";
import type { AuditEventActor } from "../audit/index.js";
import type { SuspendStatus, SuspensionKind, SuspensionTarget } from "../contract/index.js";
import { defineCollection, type Database } from "../database/index.js";
import { withDeadline } from "../deadline.js";
import { StateUnavailableError } from "../state/index.js";

export interface SuspensionRecord {
  /** suspensionId(source, target). */
  _id: string;
  target: SuspensionTarget;
  /** The target's identity whatever the source (target.ts), to find every suspension of one target. */
  target_key: string;
  /** Who keeps it: "admin" (AdminService), "policy" (a suspend obligation), "ssf:<transmitter>:<event>" (a Shared Signals event). */
  source: string;
  reason: string;
  by: AuditEventActor;
  since: Date;
  /** Absent: until resumed. */
  expires_at?: Date;
  /** Only tokens issued before this are suspended (a revocation); absent: every token. */
  issued_before?: Date;
  /** When the identity provider's event that made it happened (SSF): an account-enabled of an earlier time does not lift it. */
  event_at?: Date;
  /** The decision whose obligation made it. */
  decision_id?: string;
}

interface VersionDocument {
  _id: string;
  value: number;
}

export const SUSPENSIONS = defineCollection<SuspensionRecord>({
  name: "suspensions",
  indexes: [{ key: { target_key: 1 }, name: "suspensions_target" }],
  // A timed suspension is dead after expires_at (TTL, the sweep); every read checks it too.
  expiresAt: "expires_at",
  writeConcern: { w: "majority", journal: true },
});

const VERSIONS = defineCollection<VersionDocument>({ name: "suspensions_version", indexes: [], writeConcern: { w: "majority", journal: true } });
const VERSION_ID = "suspensions";

/** Reads (the version poll, a reload) are on every replica's timer; writes come from people and identity providers. */
const READ_TIMEOUT_MS = 2_000;
const WRITE_TIMEOUT_MS = 5_000;
const DUPLICATE_KEY = 11000;
/** A repeated suspension extends an existing one only when it ends more than this later: re-running the same command is a duplicate. */
const EXTEND_MIN_MS = 60_000;

/**
 * The suspensions database did not answer in time, or failed (Suspensions says when a change was made all the same).
 * State a decision needs, as the counters are: a brake's write that fails on an allow denies it state_unavailable.
 */
export class SuspensionStoreError extends StateUnavailableError {}

/** The server answered that it has no change streams (a standalone server, mongo-java-server without an oplog). */
export class NoChangeStreamsError extends SuspensionStoreError {}

export class SuspensionStore {
  private readonly suspensions: Collection<SuspensionRecord>;
  private readonly versions: Collection<VersionDocument>;

  constructor(private readonly database: Database) {
    this.suspensions = database.collection(SUSPENSIONS);
    this.versions = database.collection(VERSIONS);
  }

  async ensureIndexes(): Promise<void> {
    await this.bounded("create indexes", WRITE_TIMEOUT_MS, () => this.database.ensureIndexes([SUSPENSIONS, VERSIONS]));
  }

  /** The number every change bumps (0 before the first). */
  async version(): Promise<number> {
    const found = await this.bounded("read the version", READ_TIMEOUT_MS, () => this.versions.findOne({ _id: VERSION_ID }));
    return found?.value ?? 0;
  }

  /** Every suspension in force at `now` (of one kind), newest first, at most `limit`. */
  async active(now: Date, options: { kind?: SuspensionKind; limit?: number } = {}): Promise<SuspensionRecord[]> {
    const filter = { $or: [{ expires_at: { $exists: false } }, { expires_at: { $gt: now } }], ...(options.kind ? { "target.kind": options.kind } : {}) };
    return this.bounded("read suspensions", READ_TIMEOUT_MS, () =>
      this.suspensions.find(filter, { sort: { since: -1, _id: 1 }, ...(options.limit !== undefined ? { limit: options.limit } : {}) }).toArray(),
    );
  }

  /**
   * Adds a suspension. One source suspending a target it already suspends changes
   * nothing (already_suspended), unless the new one lasts longer, covers later
   * tokens or comes from a later event: then the existing one is extended. A dead
   * one is replaced. The replicas are told by bump(), the caller's to make.
   */
  async suspend(record: SuspensionRecord, now: Date): Promise<{ status: SuspendStatus; suspension: SuspensionRecord }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const outcome = await this.bounded("suspend", WRITE_TIMEOUT_MS, () => this.suspendOnce(record, now));
      if (outcome) return outcome;
      // another writer changed it in between: read it again
    }
    throw new SuspensionStoreError("suspend: the suspension kept changing under this write; try again");
  }

  private async suspendOnce(record: SuspensionRecord, now: Date): Promise<{ status: SuspendStatus; suspension: SuspensionRecord } | undefined> {
    try {
      await this.suspensions.insertOne(record);
      return { status: "suspended", suspension: record };
    } catch (error) {
      if (!(error instanceof MongoServerError) || error.code !== DUPLICATE_KEY) throw error;
    }
    const existing = await this.suspensions.findOne({ _id: record._id });
    if (!existing) return undefined;
    const unchanged: Filter<SuspensionRecord> = {
      _id: existing._id,
      since: existing.since,
      expires_at: existing.expires_at ?? { $exists: false },
      issued_before: existing.issued_before ?? { $exists: false },
      event_at: existing.event_at ?? { $exists: false },
    };
    if (existing.expires_at !== undefined && existing.expires_at <= now) {
      const replaced = await this.suspensions.replaceOne(unchanged, record);
      return replaced.matchedCount === 1 ? { status: "suspended", suspension: record } : undefined;
    }
    const end = (r: SuspensionRecord) => r.expires_at?.getTime() ?? Number.POSITIVE_INFINITY;
    const cutoff = (r: SuspensionRecord) => r.issued_before?.getTime() ?? Number.POSITIVE_INFINITY;
    const eventTime = (r: SuspensionRecord) => r.event_at?.getTime() ?? Number.NEGATIVE_INFINITY;
    // A later cutoff always extends (the tokens issued in between must stop too), and a later
    // event must not be lifted by an older enable; each holds for its own time from then, so
    // takes the later end too. Otherwise the same request repeated a little later is a
    // duplicate, not an extension by seconds.
    const laterCutoff = cutoff(record) > cutoff(existing);
    const laterEvent = eventTime(record) > eventTime(existing);
    const laterEnd = end(record) > end(existing) + (laterCutoff || laterEvent ? 0 : EXTEND_MIN_MS);
    if (!laterCutoff && !laterEvent && !laterEnd) return { status: "already_suspended", suspension: existing };
    const extended: SuspensionRecord = { ...existing };
    if (laterEnd) {
      if (record.expires_at) extended.expires_at = record.expires_at;
      else delete extended.expires_at;
    }
    if (laterCutoff) {
      if (record.issued_before) extended.issued_before = record.issued_before;
      else delete extended.issued_before;
    }
    if (laterEvent && record.event_at) extended.event_at = record.event_at;
    const updated = await this.suspensions.replaceOne(unchanged, extended);
    return updated.matchedCount === 1 ? { status: "extended", suspension: extended } : undefined;
  }

  /**
   * Removes the suspensions in force that match (one id, or a target's, of some
   * sources; with `eventAtOrBefore`, only those made by an event no later than it):
   * returns what it removed, and what it kept for being made by a later event. The
   * replicas are told by bump(), the caller's to make.
   */
  async resume(
    which: { id: string } | { targetKey: string; sources?: string[]; eventAtOrBefore?: Date },
    now: Date,
  ): Promise<{ removed: SuspensionRecord[]; kept: SuspensionRecord[] }> {
    return this.bounded("resume", WRITE_TIMEOUT_MS, async () => {
      const filter =
        "id" in which ? { _id: which.id } : { target_key: which.targetKey, ...(which.sources !== undefined ? { source: { $in: which.sources } } : {}) };
      const eventAtOrBefore = "id" in which ? undefined : which.eventAtOrBefore;
      // One without an event time (made before event times were kept) is lifted, as it was then.
      const older: Filter<SuspensionRecord> =
        eventAtOrBefore !== undefined ? { $or: [{ event_at: { $exists: false } }, { event_at: { $lte: eventAtOrBefore } }] } : {};
      const found = await this.suspensions.find(filter).toArray();
      const removed: SuspensionRecord[] = [];
      const kept: SuspensionRecord[] = [];
      for (const record of found) {
        const alive = record.expires_at === undefined || record.expires_at > now;
        if (eventAtOrBefore !== undefined && record.event_at !== undefined && record.event_at > eventAtOrBefore) {
          if (alive) kept.push(record);
          continue;
        }
        // The event time is checked again in the delete: a later event may have extended it since the find.
        const deleted = await this.suspensions.deleteOne({ _id: record._id, since: record.since, ...older });
        if (deleted.deletedCount === 1 && alive) removed.push(record);
      }
      return { removed, kept };
    });
  }

  /**
   * A change stream over the collection, when the server has them (a replica set);
   * throws NoChangeStreamsError when it answers that it has none (and another error
   * when it does not answer). `onChange` is called for every change; `onError` once
   * if the stream ends in an error after it started.
   */
  async watch(onChange: () => void, onError: (error: Error) => void): Promise<{ close(): Promise<void> }> {
    const stream: ChangeStream<SuspensionRecord> = this.suspensions.watch([], { maxAwaitTimeMS: 500 });
    try {
      // The aggregate is sent here: a server without change streams refuses it now.
      await withDeadline(stream.tryNext(), READ_TIMEOUT_MS * 2, () => new SuspensionStoreError("opening a change stream: no answer"));
    } catch (error) {
      await stream.close().catch(() => undefined);
      if (error instanceof MongoServerError) throw new NoChangeStreamsError(`the server has no change streams: ${error.message}`, { cause: error });
      throw error;
    }
    let closed = false;
    // Iterator mode throughout (the driver allows one mode per stream); each empty
    // getMore waits up to maxAwaitTimeMS on the server.
    const follow = async () => {
      try {
        while (!closed) if ((await stream.tryNext()) !== null) onChange();
      } catch (error) {
        if (!closed) onError(error as Error);
      }
    };
    void follow();
    return {
      close: async () => {
        closed = true;
        await stream.close().catch(() => undefined);
      },
    };
  }

  /**
   * Tells every replica that the set may have changed (the version they poll). Made
   * after every suspend and resume, also one that changed nothing (a policy brake's
   * repeats excepted: Suspensions): when a change landed but its bump failed, its
   * retry finds it made and must still tell them.
   */
  async bump(): Promise<void> {
    await this.bounded("bump the version", WRITE_TIMEOUT_MS, () => this.versions.updateOne({ _id: VERSION_ID }, { $inc: { value: 1 } }, { upsert: true }));
  }

  private async bounded<T>(what: string, ms: number, operation: () => Promise<T>): Promise<T> {
    try {
      return await withDeadline(operation(), ms, () => new SuspensionStoreError(`${what}: no answer within ${ms} ms`));
    } catch (error) {
      if (error instanceof SuspensionStoreError) throw error;
      throw new SuspensionStoreError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }
}
