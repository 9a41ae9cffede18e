// Giving back what a write holds when its caller was told it failed: tried again
// while the database does not take it (a lost connection, a missed deadline), a
// little longer apart each time, a bounded number of tries. A give-back is a
// conditional update that returns what one decision holds, so a try that landed
// after all leaves the next one nothing to do: retrying never gives back twice.
// The state stores' undos (calls.ts) and an approval's give-back (approvals/) run
// through it.
import type { Logger } from "../observability/index.js";

/** Tries of one give-back while the database does not take it, state_timeout_ms apart and more each time. */
export const UNDO_TRIES = 4;

export interface Retrying {
  /** state_timeout_ms: the pause before the second try (and that many more before each next one). */
  timeoutMs: number;
  log: Logger;
  /** Told of retries going on in the background, so that closing the database waits for them (Database.finishBeforeClose). */
  keepOpenFor?: (work: Promise<unknown>) => void;
}

/**
 * Runs a give-back (`undo`: one try, true when it gave something back), `tried`
 * times already, tried again while the database does not take it; says when it gave
 * something back, and when it could not.
 */
export async function giveBackUntilTaken(what: string, undo: () => Promise<boolean>, why: string, { timeoutMs, log }: Retrying, tried = 0): Promise<void> {
  for (let tries = tried + 1; ; tries++) {
    if (tries > 1) await pause(timeoutMs * (tries - 1));
    try {
      if (await undo()) log.info({ what, why }, "gave back what a write held after its caller was refused");
      // a try that failed for its caller may have landed all the same: then it gave back what this one would have
      else if (tries > 1) log.info({ what, why, tries }, "nothing left to give back after a try that failed: it landed after all, or nothing was held");
      return;
    } catch (error) {
      if (tries >= UNDO_TRIES) {
        log.warn({ what, why, err: (error as Error).message }, "could not give back what a write may hold; it stays held until it expires");
        return;
      }
    }
  }
}

/**
 * A refused decision's give-back (`once`: one try, true when it gave something
 * back): tried at once, and when the database does not take it, tried again in the
 * background while the caller is told that the first try failed (its decision is
 * refused all the same, and need not wait for the retries).
 */
export async function giveBackOrRetry(what: string, once: () => Promise<boolean>, retrying: Retrying): Promise<boolean> {
  try {
    return await once();
  } catch (error) {
    const retries = giveBackUntilTaken(what, once, "a refused decision's rollback", retrying, 1);
    retrying.keepOpenFor?.(retries);
    throw error;
  }
}

/** Waits `ms` (at least 1) without holding the process open. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(1, ms)).unref());
}
