// Repeated attempts are counted, not recorded one by one. An event marked `counted`
// (AuditEvent: an attempt that was refused, such as deciding an approval with a
// token that may not) is recorded at once the first time in a window; the same event
// again in that window (the same kind, action, actor, target, reason, decision and
// details: the same person or agent trying the same thing the same way) is counted,
// and at the window's end the repeats become one more record: that event, with how
// many repeats it stands for (`count`), from its `time` to its `last_time`. So a
// caller with a valid token retrying a refused attempt without pause costs at most
// two records per window, and the trail still says who tried what, when, and how
// many times. At most MAX_EVENT_KEYS different events are counted per window; the
// rest are recorded one by one (never counted together: that would lose who tried).
import type { AuditEvent, EventRecord } from "./events.js";

/** Different counted events told apart per window; past it, events are recorded one by one. */
export const MAX_EVENT_KEYS = 1_000;

interface Repeats {
  record: EventRecord;
  count: number;
  last: Date;
}

export class EventRepeats {
  /** The events recorded at once in this window, and their repeats since (undefined: none yet). */
  private seen = new Map<string, Repeats | undefined>();

  /**
   * Whether `event` is a repeat of one recorded in this window (true: counted, not to
   * be recorded; `build` makes the record that will stand for the repeats), or the
   * first (false: record it; later ones are counted). False also for an event not
   * `counted`, and past MAX_EVENT_KEYS.
   */
  repeat(event: AuditEvent, at: Date, build: () => EventRecord): boolean {
    if (event.counted !== true) return false;
    const key = keyOf(event);
    if (!this.seen.has(key)) {
      if (this.seen.size < MAX_EVENT_KEYS) this.seen.set(key, undefined);
      return false;
    }
    const repeats = this.seen.get(key);
    if (repeats) {
      repeats.count += 1;
      repeats.last = at;
    } else this.seen.set(key, { record: build(), count: 1, last: at });
    return true;
  }

  /** Whether this window has counted anything (its end has records to keep, or events to forget). */
  get size(): number {
    return this.seen.size;
  }

  /** The window's repeats, one record each, and a fresh window. */
  take(): EventRecord[] {
    const records: EventRecord[] = [];
    for (const repeats of this.seen.values()) {
      if (repeats) records.push({ ...repeats.record, count: repeats.count, last_time: repeats.last });
    }
    this.seen = new Map();
    return records;
  }
}

/** What makes two events the same attempt: everything but when. */
function keyOf(event: AuditEvent): string {
  return JSON.stringify([event.kind, event.action, event.actor, event.target, event.reason ?? null, event.decision_id ?? null, event.details ?? null]);
}
