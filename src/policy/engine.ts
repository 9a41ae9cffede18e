// Evaluates a compiled bundle with opa-wasm. One engine per bundle revision.
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import type { Bundle } from "./bundle.js";
import type { PolicyInput } from "./input.js";
import { parseDecision, PolicyError, type PolicyDecision } from "./output.js";

export const DECISION_ENTRYPOINT = "verdict/decision";

type LoadedPolicy = Awaited<ReturnType<typeof loadPolicy>>;

export class PolicyEngine {
  private constructor(
    private readonly policy: LoadedPolicy,
    readonly revision: string,
    /** The bundle's data document, frozen: settings other modules follow (audit masking rules). */
    readonly data: Readonly<Record<string, unknown>>,
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
    return new PolicyEngine(policy, bundle.revision, deepFreeze(structuredClone(bundle.data)));
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

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
