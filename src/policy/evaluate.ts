// One decision as the server makes it, outside the server: the state queries first
// (evaluated with input.state {}, as the pipeline does), their answers put in
// input.state, then verdict/decision. Where the answers come from is the caller's
// (a database read, values given by hand, what an audit record holds): policy/
// does no I/O.
import type { JsonObject } from "@verdict/sdk/wire";
import type { StateQuery } from "../contract/index.js";
import type { PolicyEngine } from "./engine.js";
import type { PolicyInput } from "./input.js";
import type { PolicyDecision } from "./output.js";

/** Answers a decision's state queries: a value for each name it can answer. */
export type StateAnswerer = (queries: readonly StateQuery[], input: PolicyInput) => Promise<JsonObject>;

export interface ServerLikeDecision {
  decision: PolicyDecision;
  /** What verdict/state_queries declared for this input. */
  queries: StateQuery[];
  /** input.state as the decision saw it. */
  state: JsonObject;
}

/** Throws PolicyError like the engine, when either entry point fails or its output does not fit. */
export async function decideAsServer(engine: PolicyEngine, input: PolicyInput, answer: StateAnswerer): Promise<ServerLikeDecision> {
  const queries = await engine.stateQueries({ ...input, state: {} });
  const state = queries.length > 0 ? await answer(queries, input) : {};
  const decision = await engine.decide({ ...input, state });
  return { decision, queries, state };
}

/** The names of the queries an answer left out. */
export function unanswered(queries: readonly StateQuery[], state: JsonObject): StateQuery[] {
  return queries.filter((q) => !Object.hasOwn(state, q.name));
}
