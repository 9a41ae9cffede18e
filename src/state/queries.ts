// The real-time state a decision needs (verdict/state_queries), read in one round
// trip: every queried counter lives in one collection, fetched by _id.
import type { JsonObject } from "@verdict/sdk/wire";
import type { StateQuery } from "../policy/index.js";
import { liveTotal, type CounterDoc } from "./counters.js";
import { COLLECTIONS, type StateStore } from "./store.js";
import { locate } from "./windows.js";

export async function readState(store: StateStore, queries: readonly StateQuery[], nowMs: number): Promise<JsonObject> {
  const [state] = await readStates(store, [queries], nowMs);
  return state ?? {};
}

/** The states of several decisions (a CheckBatch), still in one round trip. */
export async function readStates(store: StateStore, perDecision: readonly (readonly StateQuery[])[], nowMs: number): Promise<JsonObject[]> {
  const located = perDecision.map((queries) => queries.map((query) => ({ query, at: locate(query.key, query.window, nowMs) })));
  const ids = [...new Set(located.flat().map(({ at }) => at.id))];
  if (ids.length === 0) return perDecision.map(() => ({}));
  const docs = await store.call("read state", (deadline) =>
    store.collection<CounterDoc>(COLLECTIONS.counters).find({ _id: { $in: ids } }, deadline).toArray(),
  );
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
