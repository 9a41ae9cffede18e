// Evaluates a compiled bundle with opa-wasm. One engine per bundle revision.
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import type { Bundle } from "./bundle.js";
import type { PolicyInput } from "./input.js";
import { parseDecision, parseStateQueries, PolicyError, type PolicyDecision, type StateQuery } from "./output.js";

export const DECISION_ENTRYPOINT = "verdict/decision";
export const STATE_QUERIES_ENTRYPOINT = "verdict/state_queries";

type LoadedPolicy = Awaited<ReturnType<typeof loadPolicy>>;

export class PolicyEngine {
  private constructor(
    private readonly policy: LoadedPolicy,
    readonly revision: string,
    private readonly hasStateQueries: boolean,
  ) {}

  static async load(bundle: Bundle): Promise<PolicyEngine> {
    let policy: LoadedPolicy;
    try {
      policy = await loadPolicy(bundle.wasm);
      policy.setData(bundle.data);
    } catch (error) {
      throw new PolicyError(`policy bundle ${bundle.source} does not load: ${(error as Error).message}`);
    }
    const entrypoints = Object.keys((policy.entrypoints ?? {}) as Record<string, number>);
    if (!entrypoints.includes(DECISION_ENTRYPOINT)) {
      throw new PolicyError(`policy bundle ${bundle.source} has no ${DECISION_ENTRYPOINT} entrypoint (has: ${entrypoints.join(", ") || "none"})`);
    }
    return new PolicyEngine(policy, bundle.revision, entrypoints.includes(STATE_QUERIES_ENTRYPOINT));
  }

  /** Runs verdict/state_queries (an absent entry point or an undefined result needs no state). */
  async stateQueries(input: PolicyInput): Promise<StateQuery[]> {
    if (!this.hasStateQueries) return [];
    let resultSet: unknown;
    try {
      resultSet = this.policy.evaluate(input, STATE_QUERIES_ENTRYPOINT);
    } catch (error) {
      throw new PolicyError(`${STATE_QUERIES_ENTRYPOINT} failed: ${(error as Error).message}`);
    }
    if (!Array.isArray(resultSet) || resultSet.length === 0) return [];
    return parseStateQueries((resultSet[0] as { result?: unknown }).result);
  }

  /** Runs verdict/decision. Throws PolicyError for an evaluation error or a result that does not fit. */
  async decide(input: PolicyInput): Promise<PolicyDecision> {
    return parseDecision(this.evaluate(input, DECISION_ENTRYPOINT));
  }

  private evaluate(input: PolicyInput, entrypoint: string): unknown {
    let resultSet: unknown;
    try {
      resultSet = this.policy.evaluate(input, entrypoint);
    } catch (error) {
      throw new PolicyError(`${entrypoint} failed: ${(error as Error).message}`);
    }
    if (!Array.isArray(resultSet) || resultSet.length === 0) throw new PolicyError(`${entrypoint} is undefined for this input`);
    if (resultSet.length > 1) throw new PolicyError(`${entrypoint} has ${resultSet.length} results; it must have one`);
    return (resultSet[0] as { result?: unknown }).result;
  }
}
