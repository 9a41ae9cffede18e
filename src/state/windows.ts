import type { WindowSpec } from "../policy/index.js";

export interface WindowBucket {
  /** e.g. "day:2026-11-24", part of the counter's key. */
  id: string;
  start: Date;
  end: Date;
}

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** The calendar window (UTC) that `nowMs` falls in. */
export function bucketOf(window: WindowSpec, nowMs: number): WindowBucket {
  const size = UNIT_MS[window.unit];
  const start = Math.floor(nowMs / size) * size;
  const iso = new Date(start).toISOString();
  const label = window.unit === "day" ? iso.slice(0, 10) : window.unit === "hour" ? iso.slice(0, 13) : iso.slice(0, 16);
  return { id: `${window.unit}:${label}`, start: new Date(start), end: new Date(start + size) };
}

export function windowName(window: WindowSpec): string {
  return window.unit;
}
