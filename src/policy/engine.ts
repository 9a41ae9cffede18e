// Evaluates a compiled bundle with opa-wasm, off the main thread and under the
// evaluation bounds (pool.ts). One engine per bundle revision; close it when it
// is no longer served.
import { defaultObligations, type ObligationRegistry } from "../obligations/index.js";
import type { Bundle } from "./bundle.js";
import type { PolicyInput } from "./input.js";
import type { StateQuery } from "../contract/index.js";
import { parseDecision, parseStateQueries, PolicyError, type PolicyDecision } from "./output.js";
import { compileWasm, DEFAULT_BOUNDS, EvaluatorPool, type EvaluationAdmission, type EvaluationBounds, type Evaluated, type WasmModule } from "./pool.js";

export const DECISION_ENTRYPOINT = "verdict/decision";
export const STATE_QUERIES_ENTRYPOINT = "verdict/state_queries";

/** The first step of a decision: the state it needs and, when it needs none, the decision itself. */
export interface Begun {
  queries: StateQuery[];
  decision?: PolicyDecision;
}

export interface EngineOptions {
  bounds?: Partial<EvaluationBounds>;
  /** Called when an evaluation worker had to be replaced (overran, crashed), and when one did not start. */
  onWorkerLost?: (why: string) => void;
  /** The obligation types decisions may ask for (default: reserve, rate, once). */
  obligations?: ObligationRegistry;
}

/** A small input that exercises the decision path at start (see pool.ts). */
const WARMUP_INPUT = {
  action: "",
  resource: { type: "", id: "", attributes: {} },
  context: {},
  principal: { subject: "", client_id: "", client_type: "", actors: [], delegation_depth: 0, scopes: [], issuer: "", expires_at: 0, issued_at: 0 },
  caller: { api: "", audience: "" },
  state: {},
  now: 0,
};

export class PolicyEngine {
  private constructor(
    private readonly pool: EvaluatorPool,
    readonly revision: string,
    readonly source: string,
    readonly bounds: EvaluationBounds,
    /** The bundle's data document, frozen: settings other modules follow (audit masking rules). */
    readonly data: Readonly<Record<string, unknown>>,
    private readonly hasStateQueries: boolean,
    /** The obligation types this engine's decisions are read with. */
    readonly obligations: ObligationRegistry,
  ) {}

  /** Compiles and instantiates the bundle in its workers; fails with PolicyError when it does not load. */
  static async load(bundle: Bundle, options: EngineOptions = {}): Promise<PolicyEngine> {
    const bounds = { ...DEFAULT_BOUNDS, ...options.bounds };
    let module: WasmModule;
    try {
      module = await compileWasm(bundle.wasm);
    } catch (error) {
      throw new PolicyError(`policy bundle ${bundle.source} does not compile: ${(error as Error).message}`);
    }
    let started;
    try {
      started = await EvaluatorPool.start({
        module,
        data: bundle.data,
        bounds,
        warmup: { entrypoint: DECISION_ENTRYPOINT, input: WARMUP_INPUT },
        ...(options.onWorkerLost ? { onWorkerLost: options.onWorkerLost } : {}),
      });
    } catch (error) {
      throw new PolicyError(`policy bundle ${bundle.source} does not load: ${(error as Error).message}`);
    }
    if (!started.entrypoints.includes(DECISION_ENTRYPOINT)) {
      await started.pool.close();
      throw new PolicyError(`policy bundle ${bundle.source} has no ${DECISION_ENTRYPOINT} entrypoint (has: ${started.entrypoints.join(", ") || "none"})`);
    }
    return new PolicyEngine(
      started.pool,
      bundle.revision,
      bundle.source,
      bounds,
      deepFreeze(structuredClone(bundle.data)),
      started.entrypoints.includes(STATE_QUERIES_ENTRYPOINT),
      options.obligations ?? defaultObligations,
    );
  }

  /**
   * Runs verdict/state_queries: the state this decision needs (an absent entry
   * point or an undefined result needs none). Throws PolicyError like decide().
   */
  async stateQueries(input: PolicyInput): Promise<StateQuery[]> {
    return (await this.begin(input)).queries;
  }

  /**
   * The first step of a decision: the state it needs and, when it needs none, the
   * decision itself, evaluated in the same trip to a worker (input.state is {}).
   * Throws PolicyError like decide().
   */
  async begin(input: PolicyInput): Promise<Begun> {
    return this.beginAll([input])[0] as Promise<Begun>;
  }

  /**
   * begin() for the items of one decision (a Check, or a CheckBatch), admitted to
   * the evaluation queue together, all or none: throws EvaluationOverloadedError
   * (code `overloaded`; nothing was queued) when the pool's bound is reached;
   * otherwise one promise per input, in order, each settling like begin(), or all
   * rejecting with EvaluationOverloadedError when none has started by the queue's
   * time bound or by `answerBy` (the caller's deadline, ms since the epoch).
   */
  beginAll(inputs: readonly PolicyInput[], answerBy?: number): Promise<Begun>[] {
    const entrypoint = this.hasStateQueries ? STATE_QUERIES_ENTRYPOINT : DECISION_ENTRYPOINT;
    const requests = inputs.map((input) => ({ entrypoint, input, ...(this.hasStateQueries ? { then: DECISION_ENTRYPOINT } : {}) }));
    const trips = this.pool.evaluateAll(requests, answerBy);
    return trips.map(async (trip) => {
      if (this.hasStateQueries) return this.begun(await trip);
      return { queries: [], decision: parseDecision(singleResult((await trip).result, DECISION_ENTRYPOINT), this.obligations) };
    });
  }

  private begun(trip: Evaluated): Begun {
    const resultSet = trip.result;
    const queries = Array.isArray(resultSet) && resultSet.length > 0 ? parseStateQueries((resultSet[0] as { result?: unknown }).result) : [];
    if (queries.length > 0 || !("thenResult" in trip)) return { queries };
    return { queries, decision: parseDecision(singleResult(trip.thenResult, DECISION_ENTRYPOINT), this.obligations) };
  }

  /**
   * Runs verdict/decision. Throws PolicyError for an evaluation error, a bound hit, or a result that does not fit,
   * and EvaluationOverloadedError when the queue is full, unless it `continuing`s a decision already admitted (never refused).
   */
  async decide(input: PolicyInput, admission: EvaluationAdmission = "new"): Promise<PolicyDecision> {
    return parseDecision(await this.evaluate(input, DECISION_ENTRYPOINT, admission), this.obligations);
  }

  /** True when an evaluation would start at once; shadow evaluation skips rather than queue. */
  hasIdleWorker(): boolean {
    return this.pool.hasIdleWorker();
  }

  private holders = 0;
  private closing: { done: Promise<void>; start: () => void } | undefined;

  /**
   * Keeps this engine working until the returned release is called. A decision
   * holds its engine from its first evaluation (state queries) to its last (the
   * decision): a bundle swapped in meanwhile must not stop the old one in between.
   */
  hold(): () => void {
    if (this.closing) throw new PolicyError(`policy revision ${this.revision} is closed`);
    this.holders += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holders -= 1;
      if (this.holders === 0) this.closing?.start();
    };
  }

  /** Once no decision holds the engine, lets evaluations in flight finish and stops the workers. */
  close(): Promise<void> {
    if (!this.closing) {
      let start = () => {};
      const done = new Promise<void>((resolve, reject) => {
        start = () => void this.pool.close().then(resolve, reject);
      });
      this.closing = { done, start };
      if (this.holders === 0) start();
    }
    return this.closing.done;
  }

  private async evaluate(input: PolicyInput, entrypoint: string, admission: EvaluationAdmission): Promise<unknown> {
    return singleResult(await this.pool.evaluate(entrypoint, input, admission), entrypoint);
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/** The one result of an entrypoint's result set; anything else is a PolicyError. */
function singleResult(resultSet: unknown, entrypoint: string): unknown {
  if (!Array.isArray(resultSet) || resultSet.length === 0) throw new PolicyError(`${entrypoint} is undefined for this input`);
  if (resultSet.length > 1) throw new PolicyError(`${entrypoint} has ${resultSet.length} results; it must have one`);
  return (resultSet[0] as { result?: unknown }).result;
}
