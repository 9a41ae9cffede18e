// A deadline that is Verdict's own: the answer comes when the call does or when the
// timer fires, whichever is first. The call itself is not cancelled (stores give
// their drivers a longer bound of their own); what it produces after the deadline
// is handed to `onLate`, so a write that still lands can be undone.

export interface DeadlineOptions {
  /**
   * Measure the call, not the event loop's queue: when the timer fires, let the loop
   * first take in what has already arrived (I/O callbacks run before setImmediate's),
   * so an answer that came in time but waited behind a busy loop is not late.
   */
  ioFirst?: boolean;
}

/**
 * Resolves with `running`'s value, or rejects with `onTimeout()` after `ms`. A value
 * that arrives after that goes to `onLate`; a failure after that is ignored.
 */
export async function withDeadline<T>(
  running: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  onLate?: (lateValue: T) => void,
  { ioFirst = false }: DeadlineOptions = {},
): Promise<T> {
  let late = false;
  running.then(
    (value) => {
      if (late) onLate?.(value);
    },
    () => {}, // a failure after the deadline has no one to tell
  );
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const deadline = new Promise<never>((_, reject) => {
    const expire = () => {
      late = true;
      reject(onTimeout());
    };
    timer = setTimeout(() => {
      if (ioFirst) immediate = setImmediate(expire);
      else expire();
    }, ms);
  });
  try {
    return await Promise.race([running, deadline]);
  } finally {
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  }
}
