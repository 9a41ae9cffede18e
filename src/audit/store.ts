// The `decisions` collection, on the process's one Database. The trail's calls
// have their own bound (audit.write_timeout_ms, not state_timeout_ms): its writes
// are off the request path, larger and slower than state calls.
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type Document, type WriteError } from "mongodb";
import { defineCollection, type Database } from "../database/index.js";
import { withDeadline } from "../deadline.js";
import { VerdictError } from "../errors/index.js";
import { findOf, pageTokenAfter, QUERY_INDEXES, type AuditQuery } from "./query.js";
import { isEventRecord, type DecisionRecord, type TrailRecord } from "./record.js";

export const DECISIONS = defineCollection<TrailRecord>({
  name: "decisions",
  indexes: QUERY_INDEXES,
  // Retention: a TTL index, and the trail's own purge (audit.purge_interval_ms), not the state sweep.
  expiresAt: "expires_at",
  ttlIndex: "audit_expires_at_ttl",
  swept: false,
  // Acknowledged by a majority and journaled: a record the trail counts as written survives a crash or failover.
  writeConcern: { w: "majority", journal: true },
});

/** Every index of the `decisions` collection, the TTL index included. */
export const INDEXES = DECISIONS.indexes;

const DUPLICATE_KEY = 11000;

/** A batch was written except for these records, which the database refused as invalid (not a failure to reach it). */
export interface WriteOutcome {
  written: number;
  refused: { record: TrailRecord; error: string }[];
}

/** The database did not take the batch (unreachable, timed out): nothing is known to be written. */
export class AuditStoreUnavailableError extends VerdictError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("audit_store_unavailable", message, options);
  }
}

export class AuditStore {
  private readonly collection: Collection<TrailRecord>;

  private constructor(
    private readonly database: Database,
    /** Bound of each call (server selection included). */
    readonly timeoutMs: number,
  ) {
    this.collection = database.collection(DECISIONS);
  }

  static open(database: Database, { timeoutMs }: { timeoutMs: number }): AuditStore {
    return new AuditStore(database, timeoutMs);
  }

  get databaseName(): string {
    return this.database.name;
  }

  async ensureIndexes(): Promise<void> {
    await this.bounded("create indexes", () => this.database.ensureIndexes([DECISIONS]));
  }

  /** Inserts a batch (unordered). A record already there (same decision id) counts as written. */
  async insert(records: readonly TrailRecord[]): Promise<WriteOutcome> {
    return this.write(records, (options) => this.collection.insertMany(records, { ordered: false, ...options }));
  }

  /** Writes records that may already be there (a replay): insert-if-absent, by decision id. */
  async upsert(records: readonly TrailRecord[]): Promise<WriteOutcome> {
    const operations: AnyBulkWriteOperation<TrailRecord>[] = records.map((record) => {
      const { _id, ...fields } = record;
      return { updateOne: { filter: { _id }, update: { $setOnInsert: fields }, upsert: true } };
    });
    return this.write(records, (options) => this.collection.bulkWrite(operations, { ordered: false, ...options }));
  }

  async ping(): Promise<void> {
    await this.bounded("ping", () => this.database.ping());
  }

  /** Deletes records whose retention ended (TTL does this on MongoDB; not every server does). */
  async purgeExpired(now: number): Promise<number> {
    return this.bounded("purge", () => this.database.deleteExpired(DECISIONS, new Date(now)));
  }

  async query(query: AuditQuery, now: number): Promise<{ records: TrailRecord[]; nextPageToken?: string }> {
    const { filter, sort, limit } = findOf(query, now);
    const found = await this.bounded("query", (options) => this.collection.find(filter, { sort, limit, maxTimeMS: this.timeoutMs, ...options }).toArray());
    const records = found.slice(0, query.limit);
    const last = records[records.length - 1];
    return found.length > query.limit && last ? { records, nextPageToken: pageTokenAfter(last) } : { records };
  }

  /** One decision's record by its id (the _id index); undefined when there is none, it is an event, or its retention ended. */
  async byId(id: string, now: number): Promise<DecisionRecord | undefined> {
    const found = await this.bounded("get", (options) =>
      this.collection.findOne({ _id: id, expires_at: { $gt: new Date(now) } }, { maxTimeMS: this.timeoutMs, ...options }),
    );
    return found && !isEventRecord(found) ? found : undefined;
  }

  /**
   * The newest `query.limit` decisions of a query (never events) with only `fields`
   * read: the same index-ordered find as query(), for summaries (the console's charts and agents).
   */
  async sample(query: AuditQuery, now: number, fields: readonly string[]): Promise<Partial<DecisionRecord>[]> {
    const { filter, sort } = findOf({ ...query, kind: "decision" }, now);
    const projection = Object.fromEntries(fields.map((field) => [field, 1]));
    return this.bounded("sample", (options) =>
      // In batches of 500: decisions served by this process run between them rather than wait for one large decode.
      this.collection.find(filter, { sort, limit: query.limit, projection, batchSize: 500, maxTimeMS: this.timeoutMs, ...options }).toArray(),
    );
  }

  /** The server's plan for a query (real MongoDB; some servers have no explain). */
  async explain(query: AuditQuery, now: number): Promise<Document> {
    const { filter, sort, limit } = findOf(query, now);
    return this.bounded("explain", () => this.collection.find(filter, { sort, limit }).explain("queryPlanner"));
  }

  private async write(records: readonly TrailRecord[], operation: (options: { signal: AbortSignal }) => Promise<unknown>): Promise<WriteOutcome> {
    if (records.length === 0) return { written: 0, refused: [] };
    try {
      await this.bounded("write", operation);
      return { written: records.length, refused: [] };
    } catch (error) {
      const cause = error instanceof AuditStoreUnavailableError ? error.cause : error;
      if (!(cause instanceof MongoBulkWriteError) || cause.writeErrors === undefined) throw error;
      // Unordered: the other records were written; what failed is per record.
      const reported: unknown = cause.writeErrors;
      const listed: unknown[] = Array.isArray(reported) ? reported : isWriteError(reported) ? [reported] : Object.values(reported ?? {});
      const writeErrors = listed.filter(isWriteError);
      if (writeErrors.length === 0) throw error;
      const refused = writeErrors
        .filter((e) => e.code !== DUPLICATE_KEY)
        .flatMap((e) => {
          const record = records[e.index];
          return record ? [{ record, error: `${e.code}: ${e.errmsg ?? ""}` }] : [];
        });
      return { written: records.length - refused.length, refused };
    }
  }

  /**
   * Runs a call under the store's timeout; every failure becomes
   * AuditStoreUnavailableError. The driver abandons the call itself much later
   * (its signal): the pool is shared with the state stores, and an abort while a
   * connection is being established closes that connection.
   */
  private async bounded<T>(what: string, operation: (options: { signal: AbortSignal }) => Promise<T>): Promise<T> {
    try {
      return await withDeadline(
        operation({ signal: AbortSignal.timeout(Math.max(10_000, this.timeoutMs * 4)) }),
        this.timeoutMs,
        () => new AuditStoreUnavailableError(`${what}: no answer within ${this.timeoutMs} ms`),
      );
    } catch (error) {
      if (error instanceof AuditStoreUnavailableError) throw error;
      throw new AuditStoreUnavailableError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** The driver's per-record write error (its class is not exported at run time). */
function isWriteError(value: unknown): value is WriteError {
  return typeof value === "object" && value !== null && "index" in value && typeof value.index === "number" && "code" in value;
}
