// What an obligation type is: one module that reads its part of a policy's output,
// describes itself for explain, and applies itself through the state ports. What it
// applied is held in the store under the decision (a Holding), which is how a
// rollback or a Release gives it back: the types need no undo of their own.
import type { JsonObject, Reason } from "@verdict/sdk/wire";
import type { AppliedObligation, Holder, Holding, ObligationBase, ObligationFields, ObligationPorts } from "../contract/index.js";

export interface ApplyContext {
  nowMs: number;
  /** The decision, its API and this obligation's index: what the stores record as holding it. */
  holder: Holder;
}

export interface Applied {
  /** What the decision shows. */
  applied: AppliedObligation;
  /** What the store holds for the decision (given back by a rollback or a Release). */
  holding: Holding;
}

/**
 * One obligation type. Its members are methods, not function properties, so that
 * the registry can hold every type as an ObligationType: a type is only ever
 * handed requests that its own parse() made, dispatched by `type`.
 */
export interface ObligationType<R extends ObligationBase = ObligationBase> {
  /** The name policies use in `type`, e.g. "reserve". */
  readonly type: R["type"];
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
}
