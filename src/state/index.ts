export { StateUnavailableError } from "./errors.js";
export { consumeOnce } from "./once.js";
export { applyObligations, type AppliedObligation, type ObligationOutcome } from "./obligations.js";
export { COLLECTIONS, StateStore, type StateStoreOptions } from "./store.js";
