// A deadline that is Verdict's own: the answer comes when the call does or when the
// timer fires, whichever is first. The call itself is not cancelled (stores give
// their drivers a longer bound of their own); what it produces after the deadline
// is handed to `onLate`, so a write that still lands can be undone.

/**
 * Resolves with `running`'s value, or rejects with `onTimeout()` after `ms`. A value
 * that arrives after that goes to `onLate`; a failure after that is ignored.
 */
export async function withDeadline<T>(running: Promise<T>, ms: number, onTimeout: () => Error, onLate?: (lateValue: T) => void): Promise<T> {
  let late = false;
  running.then(
    (value) => {
      if (late) onLate?.(value);
    },
    () => {}, // a failure after the deadline has no one to tell
  );
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(onTimeout());
    }, ms);
  });
  try {
    return await Promise.race([running, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
