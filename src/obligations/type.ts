// What an obligation type is: one module that reads its part of a policy's output,
// describes itself for explain, applies itself through the state ports, and undoes
// what it applied (for a rollback or a Release).
import type { JsonObject, Reason } from "@verdict/sdk/wire";
import type { AppliedObligation, ObligationBase, ObligationFields, ObligationPorts, PrincipalIds } from "../contract/index.js";
import { VerdictError } from "../errors/index.js";

export interface ApplyContext {
  nowMs: number;
  decisionId: string;
  /** The calling API. */
  api?: string;
  /** Whom the decision is about (the suspend type names its target from it). */
  principal?: PrincipalIds;
}

export interface Applied {
  /** What the decision shows. */
  applied: AppliedObligation;
  /** What undo() is handed back (kept in the ledger, so plain JSON). */
  undo: JsonObject;
  /** Milliseconds since the epoch until which the ledger must be able to undo it. */
  until: number;
}

/**
 * One obligation type. Its members are methods, not function properties, so that
 * the registry can hold every type as an ObligationType: a type is only ever
 * handed requests that its own parse() made, dispatched by `type`.
 */
export interface ObligationType<R extends ObligationBase = ObligationBase> {
  /** The name policies use in `type`, e.g. "reserve". */
  readonly type: R["type"];
  /**
   * Applied whatever the effect (a deny too), on its own and never refusing: a brake
   * such as suspend, which a policy attaches to the denials it counts. Others apply on allow only.
   */
  readonly onEveryEffect?: boolean;
  /** The reason when it cannot be met and the policy names none. */
  readonly defaultReason: Reason;
  /** The type's own fields of the policy's output (key, reason and on_failure are read for every type). */
  parse(fields: ObligationFields): Omit<R, keyof ObligationBase>;
  /** The type's own fields in the policy's terms, as plain JSON: `verdict policy eval` and shadow comparisons. */
  summary(request: R): JsonObject;
  /** One line for explain, e.g. "reserve 100 against a limit of 1000 per day on payments/u-1". */
  explain(request: R): string;
  /** Applies it; undefined when it cannot be met, in which case it changed nothing. */
  apply(request: R, ports: ObligationPorts, context: ApplyContext): Promise<Applied | undefined>;
  /** Gives back exactly what apply() took, from its undo payload; safe to repeat. */
  undo(payload: JsonObject, ports: ObligationPorts, decisionId: string): Promise<void>;
}

/** A string field of an undo payload this type wrote itself (the ledger is Verdict's own data). */
export function payloadString(payload: JsonObject, name: string): string {
  const value = payload[name];
  if (typeof value !== "string") throw new VerdictError("internal", `a ledger entry's undo has no string ${name}`);
  return value;
}

/** A number field of an undo payload this type wrote itself. */
export function payloadNumber(payload: JsonObject, name: string): number {
  const value = payload[name];
  if (typeof value !== "number") throw new VerdictError("internal", `a ledger entry's undo has no number ${name}`);
  return value;
}
