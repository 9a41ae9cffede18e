// The obligation contract: what every obligation type has, what an applied one
// looks like everywhere it is shown (the wire's Obligation), and the ports through
// which the types touch state, so that no obligation module knows MongoDB.
import type { JsonObject, Reason } from "@verdict/sdk/wire";
import type { SuspensionPort } from "./suspension.js";
import type { WindowSpec } from "./window.js";

export interface StepUp {
  acrValues: string[];
  maxAge?: number;
}

/** What happens to the decision when an obligation cannot be met. */
export type ObligationFailure = { effect: "deny" } | { effect: "step_up"; stepUp: StepUp };

/** What every obligation a policy asks for has, whatever its type. */
export interface ObligationBase {
  type: string;
  key: string[];
  /** The reason reported when the obligation cannot be met. */
  reason: Reason;
  onFailure: ObligationFailure;
}

/** An applied obligation as a decision, its audit record and Release show it (the wire's Obligation). */
export interface AppliedObligation {
  type: string;
  key: string;
  amount: number;
  limit: number;
  window: string;
  /** The counter after this decision (0 where there is no counter; 0 in a Release). */
  total: number;
  /** Facts particular to the type, for types whose story the common fields do not tell. */
  details?: JsonObject;
}

/** What the ledger keeps to show a released obligation. */
export type ObligationDisplay = Omit<AppliedObligation, "type" | "total">;

/**
 * The fields of one obligation in a policy's output, read under the output
 * contract's rules. Each method throws the policy error that names the field and
 * what it must be ("decision.obligations[0].amount must be a positive number").
 */
export interface ObligationFields {
  positiveNumber(name: string): number;
  positiveInteger(name: string): number;
  window(name: string): WindowSpec;
  /** Whether the policy set the field at all (for optional fields). */
  has(name: string): boolean;
  /** One of `values`; `fallback` when the field is absent. */
  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T;
  /** Refuses the obligation with a message about `name`. */
  invalid(name: string, must: string): never;
}

/** Where a windowed counter reservation lives, to give it back (stored in the ledger). */
export interface CounterRef {
  kind: "calendar" | "sliding";
  id: string;
}

export type Reservation = { ok: true; total: number; ref: CounterRef; until: number } | { ok: false };

/** Windowed counters with an atomic "add only if the total stays within the limit". */
export interface CounterPort {
  reserve(key: readonly string[], window: WindowSpec, amount: number, limit: number, at: { nowMs: number; decisionId: string }): Promise<Reservation>;
  /** Gives back exactly what `decisionId` reserved, once. */
  unreserve(ref: CounterRef, amount: number, decisionId: string): Promise<void>;
}

/** Keys that may be used once until they expire. */
export interface OncePort {
  /** True on the first use of `id`, false while an earlier use is unexpired. */
  consume(id: string, expiresAt: Date, now: Date, decisionId: string): Promise<boolean>;
  /** Gives the key back, only if `decisionId` consumed it. */
  release(id: string, decisionId: string): Promise<void>;
  /** Reads only: true while `id` is consumed (dry runs). */
  isConsumed(id: string, now: Date): Promise<boolean>;
}

/** One applied obligation as the ledger keeps it: its type, how to undo it, how to show it. */
export interface LedgerEntry {
  type: string;
  undo: JsonObject;
  display: ObligationDisplay;
}

/** What each allowed decision applied, so Release can undo exactly that, once. */
export interface LedgerPort {
  record(decisionId: string, api: string, entries: readonly LedgerEntry[], now: Date, expiresAt: Date): Promise<void>;
  /** The decision's entries with whether each was undone; undefined when unknown or expired. */
  find(decisionId: string, now: Date): Promise<{ api: string; entries: (LedgerEntry & { undone: boolean })[] } | undefined>;
  /** Marks entry `index` undone; false when another release already did. */
  claim(decisionId: string, index: number): Promise<boolean>;
}

/** The state an obligation type may touch. */
export interface ObligationPorts {
  counters: CounterPort;
  once: OncePort;
  /** Suspensions (the suspend type); absent where no suspensions stage runs (a bare Decider). */
  suspensions?: SuspensionPort;
}
