// The obligation contract: what every obligation type has, what an applied one
// looks like everywhere it is shown (the wire's Obligation), and the ports through
// which the types touch state, so that no obligation module knows MongoDB.
import type { JsonObject, Reason } from "@verdict/sdk/wire";
import type { StateReader } from "./state.js";
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

/** How an applied obligation is shown where its counter total does not belong (Release). */
export type ObligationShown = Omit<AppliedObligation, "total">;

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

/** Who holds what an obligation applied: the decision, the API that asked, the obligation's index in the decision. */
export interface Holder {
  decisionId: string;
  api: string;
  index: number;
}

/**
 * One thing a decision holds in a store (a reservation in a counter, a consumed
 * key), as the store keeps it: the ledger is the state itself, so Release finds a
 * decision's holdings in the stores and gives each back with one conditional
 * update, exactly once.
 */
export interface Holding {
  /** The store that holds it (a suspension is never held: it is not given back). */
  store: "counters" | "once";
  /** Where it is, in the store's own terms; handed back to its give(). */
  ref: unknown;
  holder: Holder;
  /** How Release shows it; absent for one already given back. */
  shown?: ObligationShown;
  /** Already given back by a Release. */
  released: boolean;
}

/** A store whose entries decisions hold. */
export interface HoldingStore {
  /** Every holding of the decision in this store, including those already given back. */
  holdings(decisionId: string): Promise<Holding[]>;
  /**
   * Gives it back if it is still held: true when this call did, false when it was
   * already given back (by anyone). `forget` (a rollback: the decision was not
   * allowed) leaves no trace; a Release leaves one, so a second says already_released.
   * A rollback the database does not take at once is tried again in the background
   * (the promise still rejects: the first try failed); a Release is retried by its caller.
   */
  give(holding: Holding, options?: { forget?: boolean }): Promise<boolean>;
}

/**
 * A reservation made, or refused. A refusal for want of room says, when it can, when
 * the same amount would fit if nothing else were taken meanwhile (`fitsAtMs`, epoch
 * ms): a calendar window's end, or when enough of a sliding window's amounts have
 * left it. Never earlier than that; an amount past the limit never fits, and says none.
 */
export type Reservation = { ok: true; total: number; holding: Holding } | { ok: false; fitsAtMs?: number };

/** When and for whom a reservation is made, and whether it may be given back. */
export interface ReserveAt {
  nowMs: number;
  holder: Holder;
  type: string;
  /**
   * Counted for good (a brake's count): also a write that lands after its deadline, or
   * whose outcome is unknown, stays counted (a brake then fires sooner, never later).
   * Otherwise such a write is given back: a reservation the caller was refused holds nothing.
   */
  forGood?: boolean;
}

/** Windowed counters with an atomic "add only if the total stays within the limit". */
export interface CounterPort extends HoldingStore, StateReader {
  reserve(key: readonly string[], window: WindowSpec, amount: number, limit: number, at: ReserveAt): Promise<Reservation>;
}

/** Keys that may be used once until they expire. */
export interface OncePort extends HoldingStore {
  /** The holding on the first use of `id`; undefined while an earlier use is unexpired. */
  consume(id: string, expiresAt: Date, now: Date, holder: Holder, shown: ObligationShown): Promise<Holding | undefined>;
  /** Reads only: true while `id` is consumed (dry runs). */
  isConsumed(id: string, now: Date): Promise<boolean>;
}

/** The state an obligation type may touch. */
export interface ObligationPorts {
  counters: CounterPort;
  once: OncePort;
  /** Suspensions (the suspend type); absent where no suspensions stage runs (a bare Decider). */
  suspensions?: SuspensionPort;
}
