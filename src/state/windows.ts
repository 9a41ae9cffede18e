import { storageKey, type WindowSpec } from "../contract/index.js";

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** Buckets a sliding window is kept in: a bucket is a sixtieth of the window, at least a second. */
export const BUCKETS = 60;

/**
 * Where a windowed counter lives, and what "in the window" means at `nowMs`: the database's time (state/database-time.ts),
 * so that every process sharing the database buckets and prunes alike, whatever its own clock says.
 */
export type CounterLocation =
  | { kind: "calendar"; id: string; key: string; window: string; expiresAt: Date }
  | {
      kind: "sliding";
      id: string;
      key: string;
      window: string;
      windowMs: number;
      cutoffMs: number;
      /** The bucket a reservation made now goes into (its start, seconds since the epoch), and the buckets' width. */
      bucket: number;
      bucketSeconds: number;
    };

/**
 * Calendar windows (UTC) get one document per window: its id ends in the window
 * ("day:2026-11-24"), so a new window starts from zero without any cleanup.
 * A sliding window is one document per key, its amounts in time buckets: an amount
 * counts until its bucket's end has left the window, which is at most one bucket
 * (a sixtieth of the window) longer than its own time would — only ever refusing
 * too much, never allowing too much — and keeps the document at BUCKETS + 1 buckets.
 */
export function locate(key: readonly string[], window: WindowSpec, nowMs: number): CounterLocation {
  if (window.kind === "sliding") {
    const name = `sliding:${window.seconds}`;
    const windowMs = window.seconds * 1000;
    const bucketSeconds = Math.max(1, Math.ceil(window.seconds / BUCKETS));
    const bucket = Math.floor(nowMs / 1000 / bucketSeconds) * bucketSeconds;
    return { kind: "sliding", id: storageKey([...key, name]), key: storageKey(key), window: name, windowMs, cutoffMs: nowMs - windowMs, bucket, bucketSeconds };
  }
  const size = UNIT_MS[window.unit];
  const start = Math.floor(nowMs / size) * size;
  const iso = new Date(start).toISOString();
  const label = window.unit === "day" ? iso.slice(0, 10) : window.unit === "hour" ? iso.slice(0, 13) : iso.slice(0, 16);
  const bucket = `${window.unit}:${label}`;
  return { kind: "calendar", id: storageKey([...key, bucket]), key: storageKey(key), window: bucket, expiresAt: new Date(start + size) };
}
