import { storageKey, type WindowSpec } from "../contract/index.js";

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** Where a windowed counter lives, and what "in the window" means at `nowMs`. */
export type CounterLocation =
  | { kind: "calendar"; id: string; key: string; window: string; expiresAt: Date }
  | { kind: "sliding"; id: string; key: string; window: string; windowMs: number; cutoffMs: number };

/**
 * Calendar windows (UTC) get one document per window: its id ends in the window
 * ("day:2026-11-24"), so a new window starts from zero without any cleanup.
 * A sliding window is one document per key, with one entry per reservation.
 */
export function locate(key: readonly string[], window: WindowSpec, nowMs: number): CounterLocation {
  if (window.kind === "sliding") {
    const name = `sliding:${window.seconds}`;
    const windowMs = window.seconds * 1000;
    return { kind: "sliding", id: storageKey([...key, name]), key: storageKey(key), window: name, windowMs, cutoffMs: nowMs - windowMs };
  }
  const size = UNIT_MS[window.unit];
  const start = Math.floor(nowMs / size) * size;
  const iso = new Date(start).toISOString();
  const label = window.unit === "day" ? iso.slice(0, 10) : window.unit === "hour" ? iso.slice(0, 13) : iso.slice(0, 16);
  const bucket = `${window.unit}:${label}`;
  return { kind: "calendar", id: storageKey([...key, bucket]), key: storageKey(key), window: bucket, expiresAt: new Date(start + size) };
}
