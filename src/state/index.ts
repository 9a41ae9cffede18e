export { StateUnavailableError } from "./errors.js";
export { applyObligations, type AppliedObligation, type ObligationOutcome } from "./obligations.js";
export { COLLECTIONS, StateStore, type StateStoreOptions } from "./store.js";
