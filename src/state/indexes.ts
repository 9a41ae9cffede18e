import type { Db } from "mongodb";

/**
 * TTL indexes let MongoDB delete expired documents; servers that ignore them
 * (mongo-java-server) are still correct because every query checks expiresAt or
 * keys documents by their window.
 */
export async function ensureIndexes(db: Db): Promise<void> {
  await db.collection("counters").createIndex({ expiresAt: 1 }, { name: "expiresAt_ttl", expireAfterSeconds: 0 });
  await db.collection("once_keys").createIndex({ expiresAt: 1 }, { name: "expiresAt_ttl", expireAfterSeconds: 0 });
  await db.collection("obligation_ledger").createIndex({ expiresAt: 1 }, { name: "expiresAt_ttl", expireAfterSeconds: 0 });
}
