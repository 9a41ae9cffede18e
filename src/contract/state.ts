import type { JsonObject } from "@verdict/sdk/wire";
import type { WindowSpec } from "./window.js";

/** A real-time value a decision needs, read before verdict/decision runs. */
export interface StateQuery {
  /** The name under input.state. */
  name: string;
  /** The total of the windowed counter `key` (what reserve and rate obligations add to). */
  type: "counter";
  key: string[];
  window: WindowSpec;
}

/** Reads what decisions declared they need. */
export interface StateReader {
  /** One state object per decision (by query name), all read in one round trip; none needed, no call. */
  read(perDecision: readonly (readonly StateQuery[])[], nowMs: number): Promise<JsonObject[]>;
}
