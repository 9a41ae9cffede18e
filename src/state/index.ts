// The state stores, over the process's one Database: windowed counters (and the
// state reads policies declare), single-use keys (also the DPoP replay guard),
// the obligation ledger and shadow disagreements. They implement the contract's
// ports; nothing here knows about policies, decisions, audit or the server.
import type { Database } from "../database/index.js";
import type { Logger } from "../observability/index.js";
import { StateCalls } from "./calls.js";
import { COUNTERS, CounterStore } from "./counters.js";
import { DisagreementStore, type DisagreementStoreOptions } from "./disagreements.js";
import { LEDGER, LedgerStore } from "./ledger.js";
import { ONCE_KEYS, OnceStore } from "./once.js";

export { StateUnavailableError, isDuplicateKey } from "./errors.js";
export { checkedExpiry, InvalidExpiryError, MAX_EXPIRY_MS } from "./expiry.js";
export { CounterStore } from "./counters.js";
export { DisagreementStore, type DisagreementStoreOptions, type ListOptions } from "./disagreements.js";
export { LedgerStore } from "./ledger.js";
export { OnceStore } from "./once.js";
export { locate, type CounterLocation } from "./windows.js";

/** The collections holding real-time state (what a test or the bench empties between runs). */
export const STATE_COLLECTIONS: readonly string[] = [COUNTERS.name, ONCE_KEYS.name, LEDGER.name];

export interface StateOptions {
  /** Deadline of each state call, end to end (state_timeout_ms). */
  timeoutMs: number;
  log: Logger;
}

export interface State {
  counters: CounterStore;
  once: OnceStore;
  ledger: LedgerStore;
}

export function openState(database: Database, { timeoutMs, log }: StateOptions): State {
  const calls = new StateCalls(timeoutMs, log);
  return {
    counters: new CounterStore(database.collection(COUNTERS), calls),
    once: new OnceStore(database.collection(ONCE_KEYS), calls),
    ledger: new LedgerStore(database.collection(LEDGER), calls),
  };
}

export function openDisagreements(database: Database, options: StateOptions & DisagreementStoreOptions): DisagreementStore {
  return new DisagreementStore(database, new StateCalls(options.timeoutMs, options.log), options);
}
