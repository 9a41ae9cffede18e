// The AuthZEN directory (a policy information point): subjects, resources and
// actions Verdict knows, with their stored properties. It owns one collection on
// the process's shared MongoDB connection (src/database); its indexes and expiry
// are declared here, and the database's one sweep removes expired entries.
import { randomUUID } from "node:crypto";
import type { AnyBulkWriteOperation, Collection, Filter } from "mongodb";
import type { JsonObject } from "@verdict/sdk/wire";
import { defineCollection, type Database } from "../database/index.js";
import { withDeadline } from "../deadline.js";
import { VerdictError } from "../errors/index.js";
import type { DirectoryFile } from "./file.js";
import type { DirectoryEntry, EntityKind } from "./types.js";

interface DirectoryDocument {
  /** `kind/type/id`: types hold no "/", so the key is unambiguous. */
  _id: string;
  kind: EntityKind;
  type: string;
  id: string;
  properties: JsonObject;
  /** The load that wrote it (`verdict directory load --replace` removes the others). */
  load_id: string;
  loaded_at: Date;
  /** Absent: kept until replaced. A TTL index deletes it after this; reads skip it before. */
  expires_at?: Date;
}

/**
 * One index serves search (entities of a kind and type in id order, resumed after
 * an id); lookups use _id. The TTL index removes expired entries where the server
 * has a TTL monitor, the database's sweep where it has none; every read also skips
 * them, so correctness never depends on either.
 */
export const DIRECTORY = defineCollection<DirectoryDocument>({
  name: "authzen_directory",
  indexes: [{ key: { kind: 1, type: 1, id: 1 }, name: "kind_type_id", unique: true }],
  expiresAt: "expires_at",
  ttlIndex: "expires_at_ttl",
});

/** The name of the directory's collection. */
export const DIRECTORY_COLLECTION = DIRECTORY.name;

/** The database did not answer in time; callers fail closed. */
export class DirectoryUnavailableError extends VerdictError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("directory_unavailable", message, options);
  }
}

/**
 * How a lookup on the decision path is sent: the state calls' deadline (src/state/calls.ts,
 * handed in by the server), which fails a call once the database has been silent for
 * state_timeout_ms, not once the machine was busy that long. Any failure is the
 * directory's to report.
 */
export interface LookupCalls {
  call<T>(what: string, operation: (options: { signal: AbortSignal; maxTimeMS: number }) => Promise<T>): Promise<T>;
}

export interface DirectoryStoreOptions {
  /** Sends the lookups of the decision path (the process's state calls). */
  lookups: LookupCalls;
  /** Deadline of one chunk of a search's enumeration, and of each write of a load. */
  readTimeoutMs: number;
}

export interface EntityKey {
  kind: EntityKind;
  type: string;
  id: string;
}

export interface LoadOptions {
  /** Remove every entry this load did not write (the file is the whole directory). */
  replace?: boolean;
  /** Entries expire this long after the load; undefined: never. */
  ttlMs?: number;
  now?: Date;
}

export interface LoadResult {
  subjects: number;
  resources: number;
  actions: number;
  removed: number;
}

const WRITE_CHUNK = 1_000;

export function entityKey({ kind, type, id }: EntityKey): string {
  return `${kind}/${type}/${id}`;
}

export class DirectoryStore {
  private readonly collection: Collection<DirectoryDocument>;

  constructor(
    private readonly database: Database,
    private readonly options: DirectoryStoreOptions,
  ) {
    this.collection = database.collection(DIRECTORY);
  }

  /** The directory's indexes (the server creates them with the others at start; a load makes sure of them). */
  ensureIndexes(): Promise<void> {
    return this.database.ensureIndexes([DIRECTORY]);
  }

  /** The known entities among `keys`, by entityKey, in one round trip. */
  async lookup(keys: readonly EntityKey[], now: Date): Promise<Map<string, DirectoryEntry>> {
    const ids = [...new Set(keys.map(entityKey))];
    const found = new Map<string, DirectoryEntry>();
    if (ids.length === 0) return found;
    let docs: DirectoryDocument[];
    try {
      docs = await this.options.lookups.call("directory lookup", (options) => this.collection.find({ _id: { $in: ids } }, options).toArray());
    } catch (error) {
      throw new DirectoryUnavailableError((error as Error).message, { cause: error }); // it names the call
    }
    for (const doc of docs) if (live(doc, now)) found.set(doc._id, entry(doc));
    return found;
  }

  /**
   * The entities of one kind and type in id order, after `after`, a batch at a time
   * from one cursor: memory holds one batch however large the directory is, each
   * batch is one bounded round trip, and a search can resume after the last id it
   * used. Expired entries are skipped here rather than in the query, which keeps
   * the query a plain range on the kind_type_id index.
   */
  async *scan(kind: EntityKind, type: string, after: string | undefined, now: Date, batchSize: number): AsyncGenerator<DirectoryEntry[]> {
    const filter: Filter<DirectoryDocument> = { kind, type, ...(after !== undefined ? { id: { $gt: after } } : {}) };
    const cursor = this.collection.find(filter, { batchSize, maxTimeMS: this.options.readTimeoutMs }).sort({ id: 1 });
    try {
      for (;;) {
        const more = await this.run("directory scan", this.options.readTimeoutMs, () => cursor.hasNext());
        if (!more) return;
        const docs = cursor.readBufferedDocuments().filter((doc) => live(doc, now));
        if (docs.length > 0) yield docs.map(entry);
      }
    } finally {
      await cursor.close().catch(() => {}); // the server drops it after its idle timeout anyway
    }
  }

  /** Writes a directory file: each entry replaced whole (upsert), in chunks. */
  async load(file: DirectoryFile, { replace = false, ttlMs, now = new Date() }: LoadOptions = {}): Promise<LoadResult> {
    await this.ensureIndexes();
    const loadId = randomUUID();
    const all = [...file.subjects, ...file.resources, ...file.actions];
    for (let start = 0; start < all.length; start += WRITE_CHUNK) {
      const operations: AnyBulkWriteOperation<DirectoryDocument>[] = all.slice(start, start + WRITE_CHUNK).map((e) => {
        const doc: DirectoryDocument = {
          _id: entityKey(e),
          kind: e.kind,
          type: e.type,
          id: e.id,
          properties: e.properties,
          load_id: loadId,
          loaded_at: now,
          ...(ttlMs !== undefined ? { expires_at: new Date(now.getTime() + ttlMs) } : {}),
        };
        return { replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } };
      });
      await this.run("directory load", this.options.readTimeoutMs, () => this.collection.bulkWrite(operations, { ordered: false }));
    }
    let removed = 0;
    if (replace) {
      const result = await this.run("directory replace", this.options.readTimeoutMs, () => this.collection.deleteMany({ load_id: { $ne: loadId } }));
      removed = result.deletedCount;
    }
    return { subjects: file.subjects.length, resources: file.resources.length, actions: file.actions.length, removed };
  }

  /** Deletes expired entries now (the database's sweep does this on its schedule, for servers without a TTL monitor). */
  sweep(now: Date): Promise<number> {
    return this.database.deleteExpired(DIRECTORY, now);
  }

  private async run<T>(what: string, ms: number, operation: (signal: AbortSignal) => Promise<T>): Promise<T> {
    // The driver's own call is abandoned later than our deadline (as for state):
    // aborting a connection still being opened would keep a cold pool cold.
    const running = operation(AbortSignal.timeout(Math.max(2_000, ms * 20)));
    try {
      return await withDeadline(running, ms, () => new DirectoryUnavailableError(`${what}: no answer within ${ms} ms`));
    } catch (error) {
      if (error instanceof DirectoryUnavailableError) throw error;
      throw new DirectoryUnavailableError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }
}

function live(doc: DirectoryDocument, now: Date): boolean {
  return doc.expires_at === undefined || doc.expires_at.getTime() > now.getTime();
}

function entry(doc: DirectoryDocument): DirectoryEntry {
  return { kind: doc.kind, type: doc.type, id: doc.id, properties: doc.properties ?? {} };
}
