// A collection as its store module declares it: its name, its indexes and the
// field after which a document is dead. Declared next to the code that uses it;
// nothing else names the collection.
import type { Document, IndexDescription, WriteConcernSettings } from "mongodb";

export interface CollectionSpec {
  name: string;
  indexes: readonly IndexDescription[];
  /**
   * The date field after which a document is dead. A TTL index on it is created
   * with the others (MongoDB deletes dead documents itself), deleteExpired()
   * deletes them where the server has no TTL monitor, and every read of the store
   * checks it: correctness never depends on either deletion.
   */
  expiresAt?: string;
  /** The TTL index's name (default `<expiresAt>_ttl`); an index that exists keeps its name. */
  ttlIndex?: string;
  /** False when the store deletes dead documents on a schedule of its own instead of the database's sweep. */
  swept?: boolean;
  writeConcern?: WriteConcernSettings;
}

/** A declaration that also names the type of the collection's documents. */
export interface CollectionDef<T extends Document> extends CollectionSpec {
  /** Never set: it only carries T. */
  readonly document?: T;
}

export function defineCollection<T extends Document>(def: CollectionSpec & { expiresAt?: keyof T & string }): CollectionDef<T> {
  const ttl: IndexDescription[] =
    def.expiresAt !== undefined ? [{ key: { [def.expiresAt]: 1 }, name: def.ttlIndex ?? `${def.expiresAt}_ttl`, expireAfterSeconds: 0 }] : [];
  return { ...def, indexes: [...def.indexes, ...ttl] };
}
