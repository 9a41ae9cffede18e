// What an obligation type is: one module that reads its part of a policy's output,
// describes itself for explain, and applies itself through the state ports. What it
// applied is held in the store under the decision (a Holding), which is how a
// rollback or a Release gives it back: the types need no undo of their own.
import type { JsonObject, Reason } from "@verdict/sdk/wire";
import type { AppliedObligation, Holder, Holding, ObligationBase, ObligationFields, ObligationPorts, PrincipalIds } from "../contract/index.js";

export interface ApplyContext {
  nowMs: number;
  /** The decision, its API and this obligation's index: what the stores record as holding it. */
  holder: Holder;
  /** Whom the decision is about (the suspend type names its target from it). */
  principal?: PrincipalIds;
}

export interface Applied {
  /** What the decision shows. */
  applied: AppliedObligation;
  /** What the store holds for the decision (given back by a rollback or a Release); none for a suspension, which is not given back. */
  holding?: Holding;
}

/** An obligation that cannot be met now, which changed nothing, and when the same request would meet it if nothing else changed (epoch ms). */
export interface Refused {
  refused: true;
  retryAtMs: number;
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
   * What such a type counts is never given back (neither by a rollback nor by a Release,
   * nor when its write lands after its deadline): it counts decisions, whatever became of their action.
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
  /**
   * Applies it; undefined when it cannot be met, in which case it changed nothing, or
   * Refused when it also knows when a retry would meet it (a rate's window freeing room).
   */
  apply(request: R, ports: ObligationPorts, context: ApplyContext): Promise<Applied | Refused | undefined>;
  /** Whether it would be met now, reading only (a dry run); undefined when it would not. */
  preview(request: R, ports: ObligationPorts, context: PreviewContext): Promise<Previewed | undefined>;
}

export interface PreviewContext {
  nowMs: number;
  /** What earlier obligations of the same dry run would already have taken from `claim` (see Previewed). */
  taken: (claim: string) => number;
}

export interface Previewed {
  /** What the decision would show. */
  applied: AppliedObligation;
  /** What it would take: an amount from a counter, or a single-use key (1), named so later obligations of the dry run see it. */
  claim: { id: string; amount: number };
}
