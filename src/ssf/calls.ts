// The deadline of the receiver's own database calls (ssf_received, ssf_resumed): Verdict's
// own (deadline.ts) and the server's maxTimeMS, as the approvals' and the suspensions'
// calls have theirs. Past it the delivery answers 503 and the transmitter delivers again.
import { withDeadline } from "../deadline.js";
import { StateUnavailableError } from "../state/index.js";

/** As the suspensions' writes (suspensions/store.ts), which a SET's events make: a few majority writes, off the decisions' path. */
export const CALL_MS = 5_000;

/**
 * `operation` under CALL_MS: rejects with StateUnavailableError once it is past it. What it produces after
 * that goes to `onLate` (a claim that landed all the same is let go of); a failure is the driver's own.
 */
export function bounded<T>(what: string, operation: (options: { maxTimeMS: number }) => Promise<T>, onLate?: (late: T) => void): Promise<T> {
  // one that throws at once is a rejection like any other
  const running = (async () => operation({ maxTimeMS: CALL_MS }))();
  return withDeadline(running, CALL_MS, () => new StateUnavailableError(`${what}: no answer within ${CALL_MS} ms`), onLate);
}
