// A live summary's sample of the trail, kept between refreshes: a window that ends
// now (no `until`) only grows at its new end, so a refresh reads the records newer
// than the newest it keeps, less a lag for records the audit writer wrote late, and
// merges them (by decision id) into what it kept, rather than reading and decoding
// the window's newest SAMPLE_LIMIT records again each time. A full read now and then
// catches what the lag cannot (a spill file replayed after an outage, a replica's
// clock far behind). docs/console.md#the-console-and-the-decision-path.
import { REFUSAL_WINDOW_MS, type AuditQuery, type DecisionRecord } from "../../../audit/index.js";

/** A write slower than this (after the flush interval) is a slow database: the next full read picks its records up. */
export const LATE_WRITE_MS = 2_000;
/** How often a live sample is read whole again: records later than the lag (a spill file replayed) show up by then. */
export const LIVE_FULL_READ_MS = 120_000;
/** Live samples kept at once (each at most SAMPLE_LIMIT records of a few fields). */
export const LIVE_SAMPLES = 16;

/**
 * How late a record may reach the trail after its time: a refused token's tally is
 * written at the end of its window, any record waits up to the writer's flush
 * interval, and then the write itself.
 */
export function liveSampleLag(flushIntervalMs: number): number {
  return REFUSAL_WINDOW_MS + flushIntervalMs + LATE_WRITE_MS;
}

/** What the live sample reads from: AuditStore.sample (the newest `query.limit` decisions of a query, newest first). */
export interface SampleSource {
  sample(query: AuditQuery, now: number, fields: readonly string[]): Promise<Partial<DecisionRecord>[]>;
}

export interface LiveSampleOptions {
  /**
   * How far before the newest record kept (or the previous refresh, if earlier) a
   * refresh reads again: a record's time is when its decision started, and it
   * reaches the database later (the writer's flush interval, the write itself; a
   * refused token's tally at the end of its window).
   */
  lagMs: number;
  /** A full read of the window at least this often. */
  fullEveryMs: number;
  /** Samples kept (one per filter set); the least recently used goes first. */
  maxEntries: number;
}

/** What each sampled record carries besides the summary's fields: its id (dedupe), time and retention (trimming). */
const KEPT_FIELDS = ["_id", "time", "expires_at"] as const;

interface Entry {
  source: SampleSource;
  /** Newest first, as the store returns them. */
  records: Partial<DecisionRecord>[];
  ids: Set<string>;
  /** When the previous refresh read (its `now`) and when the last full read did. */
  readAt: number;
  fullAt: number;
  /** One refresh at a time per sample. */
  refreshing?: Promise<Partial<DecisionRecord>[]>;
}

export class LiveSamples {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: LiveSampleOptions) {}

  /**
   * The newest `query.limit` decisions of `query`'s window, with `fields`. A window
   * with an end (`until`) is read whole each time; one that ends now is kept under
   * `key` (the filters as the operator gave them, e.g. `since=24h`) and refreshed.
   */
  async read(source: SampleSource, key: string, query: AuditQuery, now: number, fields: readonly string[]): Promise<Partial<DecisionRecord>[]> {
    if (query.until !== undefined || query.after !== undefined) {
      return source.sample(query, now, fields);
    }
    let entry = this.entries.get(key);
    if (entry && (entry.source !== source || now - entry.fullAt >= this.options.fullEveryMs) && !entry.refreshing) {
      this.entries.delete(key); // stale (or another store): read it whole again
      entry = undefined;
    }
    if (entry) {
      // Most recently used last: eviction takes the first.
      this.entries.delete(key);
      this.entries.set(key, entry);
      if (entry.refreshing) return entry.refreshing;
      const kept = entry;
      const refreshing = this.refresh(kept, key, query, now, fields).finally(() => (kept.refreshing = undefined));
      kept.refreshing = refreshing;
      return refreshing;
    }
    const fresh: Entry = { source, records: [], ids: new Set(), readAt: now, fullAt: now };
    const reading = this.full(fresh, key, query, now, fields);
    fresh.refreshing = reading;
    this.entries.set(key, fresh);
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    try {
      return await reading;
    } catch (error) {
      if (this.entries.get(key) === fresh) this.entries.delete(key); // a failed read is not kept
      throw error;
    } finally {
      fresh.refreshing = undefined;
    }
  }

  private async full(entry: Entry, key: string, query: AuditQuery, now: number, fields: readonly string[]): Promise<Partial<DecisionRecord>[]> {
    const records = await entry.source.sample(query, now, withKept(fields));
    entry.records = records;
    entry.ids = idsOf(records);
    entry.readAt = now;
    entry.fullAt = now;
    return records;
  }

  private async refresh(entry: Entry, key: string, query: AuditQuery, now: number, fields: readonly string[]): Promise<Partial<DecisionRecord>[]> {
    const newest = entry.records[0]?.time?.getTime() ?? entry.readAt;
    // The previous refresh's time bounds it too: a record from a clock running ahead does not move the cursor past what others write.
    const cursor = Math.min(newest, entry.readAt) - this.options.lagMs;
    const windowStart = query.since?.getTime() ?? -Infinity;
    const since = new Date(Math.max(cursor, windowStart));
    try {
      const read = await entry.source.sample({ ...query, since }, now, withKept(fields));
      const added = read.filter((record) => record._id !== undefined && !entry.ids.has(record._id));
      // Both lists are newest first: merge them, then keep the window, the retention and the limit.
      const merged = mergeNewestFirst(added, entry.records).filter(
        (record) => (record.time?.getTime() ?? -Infinity) >= windowStart && (record.expires_at === undefined || record.expires_at.getTime() > now),
      );
      const records = merged.slice(0, query.limit);
      entry.records = records;
      entry.ids = idsOf(records);
      entry.readAt = now;
      return records;
    } catch (error) {
      this.entries.delete(key); // after a failed read, start again from a full one
      throw error;
    }
  }
}

function idsOf(records: readonly Partial<DecisionRecord>[]): Set<string> {
  return new Set(records.flatMap((record) => (record._id === undefined ? [] : [record._id])));
}

function withKept(fields: readonly string[]): string[] {
  return [...new Set([...fields, ...KEPT_FIELDS])];
}

/** The store's order: time, then decision id, both descending. */
function newerFirst(a: Partial<DecisionRecord>, b: Partial<DecisionRecord>): number {
  const byTime = (b.time?.getTime() ?? 0) - (a.time?.getTime() ?? 0);
  if (byTime !== 0) return byTime;
  const [x, y] = [a._id ?? "", b._id ?? ""];
  return x < y ? 1 : x > y ? -1 : 0;
}

function mergeNewestFirst(a: readonly Partial<DecisionRecord>[], b: readonly Partial<DecisionRecord>[]): Partial<DecisionRecord>[] {
  const merged: Partial<DecisionRecord>[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) merged.push(newerFirst(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!);
  while (i < a.length) merged.push(a[i++]!);
  while (j < b.length) merged.push(b[j++]!);
  return merged;
}
