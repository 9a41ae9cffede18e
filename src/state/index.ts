export { StateUnavailableError, isDuplicateKey } from "./errors.js";
export { checkedExpiry, InvalidExpiryError, MAX_EXPIRY_MS } from "./expiry.js";
export { releaseDecision, type ReleasedObligation, type ReleaseStatus } from "./ledger.js";
export { applyObligations, type ApplyContext, type AppliedObligation, type ObligationOutcome } from "./obligations.js";
export { sweepExpired } from "./housekeeping.js";
export { consumeOnce, isConsumed } from "./once.js";
export { readState, readStates } from "./queries.js";
export { COLLECTIONS, StateStore, type StateStoreOptions } from "./store.js";
export { locate, windowName, type CounterLocation } from "./windows.js";
