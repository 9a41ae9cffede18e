// The state stores, over the process's one Database: windowed counters (and the
// state reads policies declare), single-use keys (also the DPoP replay guard) and
// shadow disagreements, with what each decision holds in them (the ledger of
// Release is the state itself), and the admission of decisions to the database.
// They implement the contract's ports; nothing here knows about policies,
// decisions, audit or the server.
import type { Database } from "../database/index.js";
import type { Logger } from "../observability/index.js";
import { Admission } from "./admission.js";
import { StateCalls, type CallObserver, type StateCallsOptions } from "./calls.js";
import { DEFAULT_STATE_CONCURRENCY, DEFAULT_STATE_QUEUE_TIMEOUT_MS } from "./config.js";
import { COUNTERS, CounterStore } from "./counters.js";
import { CountersOnDatabaseTime } from "./database-time.js";
export { COUNTERS, EXPIRY_GRACE_MS } from "./counters.js";
import { DisagreementStore, type DisagreementStoreOptions } from "./disagreements.js";
import { ONCE_KEYS, OnceStore } from "./once.js";

export { Admission, type AdmissionOptions, type Ticket } from "./admission.js";
export { StateCalls, type CallObserver, type StateCallsOptions } from "./calls.js";
export { OverloadedError, StateUnavailableError, isDuplicateKey } from "./errors.js";
export { giveBackOrRetry, pause } from "./give-back.js";
export { checkedExpiry, InvalidExpiryError, MAX_EXPIRY_MS } from "./expiry.js";
export { CounterStore, DEAD_BUCKETS_KEPT, RELEASABLE } from "./counters.js";
export { CountersOnDatabaseTime, type OffsetSource } from "./database-time.js";
export { DisagreementStore, type DisagreementStoreOptions, type ListOptions } from "./disagreements.js";
export { ONCE_KEYS, OnceStore } from "./once.js";
export { BUCKETS, locate, type CounterLocation } from "./windows.js";
export { DEFAULT_STATE_CONCURRENCY, DEFAULT_STATE_TIMEOUT_MS, poolSizeFor } from "./config.js";

/** The collections holding real-time state (what a test or the bench empties between runs). */
export const STATE_COLLECTIONS: readonly string[] = [COUNTERS.name, ONCE_KEYS.name];

export interface StateOptions {
  /** Deadline of each state call, measured on the call (state_timeout_ms). */
  timeoutMs: number;
  log: Logger;
  /** Decisions doing state work at once (state_concurrency), and how long one may wait to (state_queue_timeout_ms). */
  admission?: { concurrency: number; queueTimeoutMs: number };
  /** Told of each database call (the metrics of database calls by operation). */
  onCall?: CallObserver;
}

export interface State {
  /** On the database's clock (every process sharing it agrees on what is in a window); callers give their own time. */
  counters: CountersOnDatabaseTime;
  once: OnceStore;
  admission: Admission;
  /** The deadline and silence of this process's state calls, for other calls on the decision path (the AuthZEN directory's lookups, the approvals store). */
  calls: StateCalls;
}

/** Defaults of state_concurrency and state_queue_timeout_ms, for stores opened outside a server (tests, tools). */
const DEFAULT_ADMISSION = { concurrency: DEFAULT_STATE_CONCURRENCY, queueTimeoutMs: DEFAULT_STATE_QUEUE_TIMEOUT_MS };

export function openState(database: Database, { timeoutMs, log, onCall, admission = DEFAULT_ADMISSION }: StateOptions): State {
  const calls = new StateCalls(timeoutMs, log, callOptions(database, onCall));
  return {
    counters: new CountersOnDatabaseTime(new CounterStore(database.collection(COUNTERS), calls), database.clock),
    once: new OnceStore(database.collection(ONCE_KEYS), calls, database.clock),
    admission: new Admission(admission),
    calls,
  };
}

export function openDisagreements(database: Database, options: StateOptions & DisagreementStoreOptions): DisagreementStore {
  return new DisagreementStore(database, new StateCalls(options.timeoutMs, options.log, callOptions(database, options.onCall)), options);
}

/** State calls over `database`: pinged while silent; closing it waits for their give-backs under way. */
function callOptions(database: Database, onCall: CallObserver | undefined): StateCallsOptions {
  return {
    ping: (signal) => database.ping(signal),
    keepOpenFor: (work) => database.finishBeforeClose(work),
    ...(onCall ? { onCall } : {}),
  };
}
