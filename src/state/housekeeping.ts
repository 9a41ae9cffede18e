// Expired documents are deleted by MongoDB's TTL monitor where there is one.
// Correctness never depends on it (every read checks expiry); this sweep only
// keeps servers without a TTL monitor (mongo-java-server) from growing forever.
import { COLLECTIONS, type StateStore } from "./store.js";

const EXPIRING = [COLLECTIONS.counters, COLLECTIONS.once, COLLECTIONS.ledger] as const;

export async function sweepExpired(store: StateStore, now: Date): Promise<number> {
  let removed = 0;
  for (const name of EXPIRING) {
    const result = await store.call(`sweep ${name}`, () => store.collection(name).deleteMany({ expiresAt: { $lte: now } }));
    removed += result.deletedCount;
  }
  return removed;
}
