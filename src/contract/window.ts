/** Calendar windows (UTC), or sliding windows of N seconds. */
export type WindowSpec = { kind: "calendar"; unit: "minute" | "hour" | "day" } | { kind: "sliding"; seconds: number };

/** The window as policies name it ("day", "sliding:60"). */
export function windowLabel(window: WindowSpec): string {
  return window.kind === "sliding" ? `sliding:${window.seconds}` : window.unit;
}
