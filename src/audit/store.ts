// The `decisions` collection. The audit trail has its own client: its writes are off
// the request path, larger and slower than state calls, and bounded by their own
// timeout, so they never hold a connection or a deadline that decisions need.
import { MongoBulkWriteError, MongoClient, type AnyBulkWriteOperation, type Collection, type Document } from "mongodb";
import { withDeadline } from "../deadline.js";
import { VerdictError } from "../errors/index.js";
import { findOf, INDEXES, pageTokenAfter, type AuditQuery } from "./query.js";
import type { DecisionRecord } from "./record.js";

export const DECISIONS_COLLECTION = "decisions";

const DUPLICATE_KEY = 11000;

export interface AuditStoreOptions {
  uri: string;
  database: string;
  /** Bound of each call (server selection included). */
  timeoutMs: number;
}

/** A batch was written except for these records, which the database refused as invalid (not a failure to reach it). */
export interface WriteOutcome {
  written: number;
  refused: { record: DecisionRecord; error: string }[];
}

/** The database did not take the batch (unreachable, timed out): nothing is known to be written. */
export class AuditStoreUnavailableError extends VerdictError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("audit_store_unavailable", message, options);
  }
}

export class AuditStore {
  private constructor(
    private readonly client: MongoClient,
    readonly collection: Collection<DecisionRecord>,
    readonly timeoutMs: number,
  ) {}

  /** Connects lazily; the driver reconnects by itself when the database returns. */
  static open({ uri, database, timeoutMs }: AuditStoreOptions): AuditStore {
    const client = new MongoClient(uri, {
      appName: "verdict-audit",
      maxPoolSize: 4,
      serverSelectionTimeoutMS: timeoutMs,
      connectTimeoutMS: Math.min(timeoutMs, 10_000),
      socketTimeoutMS: timeoutMs * 2,
      // Acknowledged by a majority and journaled: a record the trail counts as
      // written survives a database crash or failover.
      writeConcern: { w: "majority", journal: true },
    });
    return new AuditStore(client, client.db(database).collection<DecisionRecord>(DECISIONS_COLLECTION), timeoutMs);
  }

  get databaseName(): string {
    return this.collection.dbName;
  }

  async ensureIndexes(): Promise<void> {
    await this.bounded("create indexes", () =>
      this.collection.createIndexes(
        INDEXES.map((index) => ({
          key: index.key,
          name: index.name,
          ...(index.expireAfterSeconds !== undefined ? { expireAfterSeconds: index.expireAfterSeconds } : {}),
        })),
      ),
    );
  }

  /** Inserts a batch (unordered). A record already there (same decision id) counts as written. */
  async insert(records: readonly DecisionRecord[]): Promise<WriteOutcome> {
    return this.write(records, () => this.collection.insertMany(records as DecisionRecord[], { ordered: false }));
  }

  /** Writes records that may already be there (a replay): insert-if-absent, by decision id. */
  async upsert(records: readonly DecisionRecord[]): Promise<WriteOutcome> {
    const operations: AnyBulkWriteOperation<DecisionRecord>[] = records.map((record) => {
      const { _id, ...fields } = record;
      return { updateOne: { filter: { _id }, update: { $setOnInsert: fields }, upsert: true } };
    });
    return this.write(records, () => this.collection.bulkWrite(operations, { ordered: false }));
  }

  async ping(): Promise<void> {
    await this.bounded("ping", () => this.collection.db.command({ ping: 1 }));
  }

  /** Deletes records whose retention ended (TTL does this on MongoDB; not every server does). */
  async purgeExpired(now: number): Promise<number> {
    const result = await this.bounded("purge", () =>
      this.collection.deleteMany({ expires_at: { $lte: new Date(now) } }, { maxTimeMS: this.timeoutMs }),
    );
    return result.deletedCount;
  }

  async query(query: AuditQuery, now: number): Promise<{ records: DecisionRecord[]; nextPageToken?: string }> {
    const { filter, sort, limit } = findOf(query, now);
    const found = await this.bounded("query", () =>
      this.collection.find(filter, { sort, limit, maxTimeMS: this.timeoutMs }).toArray(),
    );
    const records = found.slice(0, query.limit);
    const last = records[records.length - 1];
    return found.length > query.limit && last ? { records, nextPageToken: pageTokenAfter(last) } : { records };
  }

  /** The server's plan for a query (real MongoDB; some servers have no explain). */
  async explain(query: AuditQuery, now: number): Promise<Document> {
    const { filter, sort, limit } = findOf(query, now);
    return this.bounded("explain", () => this.collection.find(filter, { sort, limit }).explain("queryPlanner"));
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async write(records: readonly DecisionRecord[], operation: () => Promise<unknown>): Promise<WriteOutcome> {
    if (records.length === 0) return { written: 0, refused: [] };
    try {
      await this.bounded("write", operation);
      return { written: records.length, refused: [] };
    } catch (error) {
      const cause = error instanceof AuditStoreUnavailableError ? error.cause : error;
      if (!(cause instanceof MongoBulkWriteError) || cause.writeErrors === undefined) throw error;
      // Unordered: the other records were written; what failed is per record.
      const writeErrors = Array.isArray(cause.writeErrors) ? cause.writeErrors : Object.values(cause.writeErrors);
      if (writeErrors.length === 0) throw error;
      const refused = writeErrors
        .filter((e) => e.code !== DUPLICATE_KEY)
        .map((e) => ({ record: records[e.index] as DecisionRecord, error: `${e.code}: ${e.errmsg ?? ""}` }));
      return { written: records.length - refused.length, refused };
    }
  }

  /** Runs a call under the store's timeout; every failure becomes AuditStoreUnavailableError. */
  private async bounded<T>(what: string, operation: () => Promise<T>): Promise<T> {
    // The driver's own timeouts cover server selection and sockets; this bounds
    // the whole call, because a write cannot be given an abort signal.
    try {
      return await withDeadline(operation(), this.timeoutMs, () => new AuditStoreUnavailableError(`${what}: no answer within ${this.timeoutMs} ms`));
    } catch (error) {
      if (error instanceof AuditStoreUnavailableError) throw error;
      throw new AuditStoreUnavailableError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }
}
