// A small pool of worker threads, each holding the loaded policy, so that an
// evaluation runs off the main thread under a time bound (a worker that overruns
// is terminated and replaced) and a memory bound (a WebAssembly memory with a
// maximum). A bound hit or an evaluation error rejects with PolicyError; the
// pool keeps serving.
//
// The time bound measures the evaluation, not the wait for a CPU: each worker
// stamps when it starts a task in memory it shares with the pool, and the pool's
// timer counts from that stamp (a worker not yet scheduled on a busy machine has
// not started). Waiting evaluations go to a worker together, one message for many,
// so a busy pool wakes its threads once per batch, not once per evaluation; one
// worker starts with the pool, the others when evaluations wait for one.
//
// The queue's bound is about callers, not evaluations: a decision (a Check, or all
// the items of a CheckBatch together) is admitted as one, all or none, and refused
// at once with EvaluationOverloadedError (gRPC RESOURCE_EXHAUSTED, retry later)
// when too many decisions, or too many evaluations, already wait. Evaluations that
// continue an admitted decision are never refused (that could leave a batch half
// applied) and go first.
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { VerdictError } from "../errors/index.js";
import { PolicyError } from "./output.js";
import { WORKER_SOURCE } from "./worker-source.js";

export interface EvaluationBounds {
  /** Wall-clock bound of one evaluation, from the moment a worker takes it. */
  timeoutMs: number;
  /** Maximum WebAssembly memory of each worker's instance (bundle data included). */
  memoryMb: number;
  /** Evaluations that can run at once. */
  workers: number;
  /** Decisions (a Check, or a CheckBatch's items together) that may be evaluating or waiting before new ones are refused. */
  maxQueue: number;
  /** Evaluations that may wait for a worker: a decision whose evaluations do not fit beside them is refused (bounds latency and memory under a flood of large batches). */
  maxQueuedEvaluations: number;
}

// 64 callers in flight with batches of max_batch_items (100) is 6,400 evaluations: it fits; a flood does not (8,192 is a second or two of work).
export const DEFAULT_BOUNDS: EvaluationBounds = { timeoutMs: 250, memoryMb: 64, workers: 2, maxQueue: 1024, maxQueuedEvaluations: 8_192 };

export type PolicyFailureKind = "timeout" | "memory" | "error";

/** The pool refused a decision's evaluations as a whole: too much already waits. No decision, nothing applied; retry later. */
export class EvaluationOverloadedError extends VerdictError {
  constructor(message: string) {
    super("overloaded", message);
  }
}

/** One evaluation of a decision admitted together with others (see EvaluatorPool.evaluateAll). */
export interface EvaluationRequest {
  entrypoint: string;
  input: unknown;
  /** Evaluated in the same trip when `entrypoint` needs nothing (see evaluateThen). */
  then?: string;
}

/** A PolicyError that says which bound or failure it was, for metrics. */
export class EvaluationError extends PolicyError {
  constructor(
    message: string,
    readonly kind: PolicyFailureKind,
    entrypoint?: string,
  ) {
    super(message, undefined, entrypoint);
  }
}

/** A compiled WebAssembly.Module (Node 20's type definitions do not declare the WebAssembly global). */
export type WasmModule = object;
const wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } }).WebAssembly;

/** Compiles once, off the main thread (V8 compiles asynchronously); workers share the compiled module. */
export function compileWasm(bytes: Uint8Array): Promise<WasmModule> {
  return wasm.compile(bytes);
}

const PAGE_BYTES = 64 * 1024;
const opaWasmPath = createRequire(import.meta.url).resolve("@open-policy-agent/opa-wasm");

/** One trip to a worker: an entrypoint's result set, and the follow-up's when it ran. */
export interface Evaluated {
  result: unknown;
  thenResult?: unknown;
}

interface Task {
  id: number;
  entrypoint: string;
  then?: string;
  input: unknown;
  /** The worker said it began the follow-up entry point (`then`). */
  inThen?: boolean;
  resolve(result: Evaluated): void;
  reject(error: Error): void;
}

/** How an evaluation is admitted: as a new decision (bounded), or continuing one already admitted (never refused). */
export type EvaluationAdmission = "new" | "continuing";

interface Slot {
  worker: Worker;
  /** The batch it is evaluating, in order; the first is the one under way or next. */
  tasks: Task[];
  ready: boolean;
  /** Shared with the worker: [id of the task it started, when (ms since the pool's epoch)]. */
  started: Int32Array;
  timer?: NodeJS.Timeout;
}

/** Evaluations sent to a worker in one message at most. */
const MAX_BATCH = 32;

type WorkerReply =
  | { type: "ready"; entrypoints: string[] }
  | { type: "init_error"; error: string }
  | { id: number; phase: "then" }
  | { id: number; ok: true; result: unknown; thenResult?: unknown }
  | { id: number; ok: false; error: string; memory: boolean };

export interface PoolOptions {
  module: WasmModule;
  data: Record<string, unknown>;
  bounds: EvaluationBounds;
  /** Evaluated once per worker at start so that the first real evaluation is not the slow one. */
  warmup: { entrypoint: string; input: unknown };
  /** Called when a worker had to be replaced (it overran, crashed, or could not start). */
  onWorkerLost?: (why: string) => void;
}

export class EvaluatorPool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Task[] = [];
  /** Evaluations continuing admitted decisions: sent before the queue's. */
  private readonly continuing: Task[] = [];
  /** Decisions admitted whose evaluations are not all settled. */
  private admittedDecisions = 0;
  private nextId = 1;
  private closing = false;
  private drained: (() => void) | undefined;
  /** Workers being started (beyond the first) because evaluations wait. */
  private spawning = 0;
  /** The epoch of the workers' start stamps (performance.now() when the pool started). */
  private readonly epoch = performance.now();

  private constructor(private readonly options: PoolOptions) {}

  /** Starts the first worker; resolves with the bundle's entrypoints once it is ready. The others start when evaluations wait. */
  static async start(options: PoolOptions): Promise<{ pool: EvaluatorPool; entrypoints: string[] }> {
    const pool = new EvaluatorPool(options);
    try {
      const entrypoints = await pool.spawn();
      return { pool, entrypoints };
    } catch (error) {
      await pool.terminateAll();
      throw error;
    }
  }

  /** Evaluates one entrypoint; the result set as opa-wasm returns it. */
  async evaluate(entrypoint: string, input: unknown, admission: EvaluationAdmission = "new"): Promise<unknown> {
    return (await this.evaluateThen(entrypoint, input, undefined, admission)).result;
  }

  /**
   * Evaluates `entrypoint`, and in the same trip `then` when the first needs nothing
   * (an undefined or empty result): one trip instead of two for the common case.
   * The time bound covers the trip. A new decision of one evaluation (see evaluateAll).
   */
  evaluateThen(entrypoint: string, input: unknown, then?: string, admission: EvaluationAdmission = "new"): Promise<Evaluated> {
    const request = { entrypoint, input, ...(then ? { then } : {}) };
    if (admission === "continuing") return this.enqueue([request], this.continuing)[0] as Promise<Evaluated>;
    const refused = this.refusal(1);
    return refused ? Promise.reject(refused) : (this.evaluateAll([request])[0] as Promise<Evaluated>);
  }

  /**
   * Admits one decision's evaluations together, all or none: throws
   * EvaluationOverloadedError, with nothing queued, when `maxQueue` decisions are
   * already admitted or the evaluations do not fit beside those waiting
   * (`maxQueuedEvaluations`); otherwise one promise per request, in order, each
   * settling like evaluateThen's.
   */
  evaluateAll(requests: readonly EvaluationRequest[]): Promise<Evaluated>[] {
    if (requests.length === 0) return [];
    const refused = this.refusal(requests.length);
    if (refused) throw refused;
    const promises = this.enqueue(requests, this.queue);
    if (this.closing || this.slots.size === 0) return promises;
    this.admittedDecisions += 1;
    let unsettled = promises.length;
    const settled = () => {
      unsettled -= 1;
      if (unsettled === 0) this.admittedDecisions -= 1;
    };
    for (const promise of promises) promise.then(settled, settled);
    return promises;
  }

  /** Why a new decision of `evaluations` would be refused now, if it would. */
  private refusal(evaluations: number): EvaluationOverloadedError | undefined {
    if (this.closing || this.slots.size === 0) return undefined; // enqueue() answers those
    const { maxQueue, maxQueuedEvaluations } = this.options.bounds;
    if (this.admittedDecisions >= maxQueue)
      return new EvaluationOverloadedError(`${this.admittedDecisions} decisions are already waiting for policy evaluation`);
    const waiting = this.queue.length + this.continuing.length;
    if (waiting > 0 && waiting + evaluations > maxQueuedEvaluations) {
      return new EvaluationOverloadedError(`${waiting} policy evaluations are already waiting; ${evaluations} more do not fit`);
    }
    return undefined;
  }

  private enqueue(requests: readonly EvaluationRequest[], queue: Task[]): Promise<Evaluated>[] {
    if (this.closing) return requests.map(() => Promise.reject(new EvaluationError("the policy engine is closed", "error")));
    if (this.slots.size === 0) return requests.map(() => Promise.reject(new EvaluationError("no policy worker is running", "error")));
    const promises = requests.map(
      ({ entrypoint, input, then }) =>
        new Promise<Evaluated>((resolve, reject) => {
          queue.push({ id: this.nextId++, entrypoint, ...(then ? { then } : {}), input, resolve, reject });
        }),
    );
    this.pump();
    return promises;
  }

  /** True when an evaluation would start at once (no queueing). */
  hasIdleWorker(): boolean {
    for (const slot of this.slots) if (slot.ready && slot.tasks.length === 0) return this.queue.length === 0 && this.continuing.length === 0;
    return false;
  }

  /** Lets evaluations in flight and queued finish, then stops the workers. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.busy()) await new Promise<void>((resolve) => (this.drained = resolve));
    await this.terminateAll();
  }

  private busy(): boolean {
    if (this.queue.length > 0 || this.continuing.length > 0) return true;
    for (const slot of this.slots) if (slot.tasks.length > 0) return true;
    return false;
  }

  private spawn(): Promise<string[]> {
    const { bounds, module, data, warmup } = this.options;
    const maximumPages = Math.max(2, Math.floor((bounds.memoryMb * 1024 * 1024) / PAGE_BYTES));
    const started = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        opaWasm: opaWasmPath,
        module,
        data,
        initialPages: Math.min(5, maximumPages),
        maximumPages,
        warmup,
        started,
        epoch: performance.timeOrigin + this.epoch,
      },
      // The JavaScript side (results, data) gets a bound of its own, beside the WebAssembly memory.
      resourceLimits: { maxOldGenerationSizeMb: Math.max(32, bounds.memoryMb), maxYoungGenerationSizeMb: 16 },
      stdout: true,
      stderr: true,
    });
    worker.unref(); // an idle pool never keeps the process alive; a pending evaluation's timer does
    // Whatever a policy prints is not Verdict's output (stdout is the CLI's): discard it.
    worker.stdout.resume();
    worker.stderr.resume();
    const slot: Slot = { worker, tasks: [], ready: false, started };
    this.slots.add(slot);
    return new Promise<string[]>((resolve, reject) => {
      worker.on("message", (reply: WorkerReply) => {
        if ("type" in reply) {
          if (reply.type === "ready") {
            slot.ready = true;
            resolve(reply.entrypoints);
            this.pump();
          } else {
            reject(new PolicyError(`the policy does not load: ${reply.error}`));
            this.drop(slot);
          }
          return;
        }
        if ("phase" in reply) {
          const task = slot.tasks[0];
          if (task?.id === reply.id) task.inThen = true;
          return;
        }
        this.settle(slot, reply);
      });
      worker.on("error", (error) => {
        if (!slot.ready) reject(new PolicyError(`the policy does not load: ${error.message}`));
        this.lose(slot, `worker failed: ${error.message}`, error.message.includes("memory") ? "memory" : "error");
      });
      worker.on("exit", () => {
        if (!slot.ready) reject(new PolicyError("the policy worker exited while loading"));
        if (this.slots.has(slot)) this.lose(slot, "worker exited", "error");
      });
    });
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0 && this.continuing.length === 0) break;
      if (!slot.ready || slot.tasks.length > 0) continue;
      const batch = this.continuing.splice(0, MAX_BATCH);
      if (batch.length < MAX_BATCH) batch.push(...this.queue.splice(0, MAX_BATCH - batch.length));
      slot.tasks = batch;
      this.arm(slot, this.options.bounds.timeoutMs);
      slot.worker.postMessage(batch.map((task) => ({ id: task.id, entrypoint: task.entrypoint, then: task.then, input: task.input })));
    }
    // Evaluations wait: start another worker, up to the bound.
    if (this.queue.length + this.continuing.length > 0 && !this.closing && this.slots.size + this.spawning < Math.max(1, this.options.bounds.workers)) {
      this.spawning += 1;
      this.spawn()
        .catch((error: unknown) => this.options.onWorkerLost?.(`another worker did not start: ${(error as Error).message}`))
        .finally(() => (this.spawning -= 1));
    }
    if (this.closing && !this.busy()) this.drained?.();
  }

  /** Checks the slot's evaluation under way after `ms`: the bound counts from when the worker started it. */
  private arm(slot: Slot, ms: number): void {
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => this.check(slot), Math.max(1, Math.ceil(ms)));
  }

  private check(slot: Slot): void {
    const task = slot.tasks[0];
    if (!task || !this.slots.has(slot)) return;
    const { timeoutMs } = this.options.bounds;
    // Not started yet (the worker is still on the previous one, or not scheduled): wait a bound more.
    if (Atomics.load(slot.started, 0) !== task.id) return this.arm(slot, timeoutMs);
    const running = performance.now() - this.epoch - Atomics.load(slot.started, 1);
    if (running >= timeoutMs) {
      // where it stopped: the entry point being evaluated (the second of a two-step trip once the worker said it began it)
      const where = task.then && task.inThen ? task.then : task.entrypoint;
      this.lose(slot, `evaluating ${where} took longer than ${timeoutMs} ms`, "timeout", where);
    } else this.arm(slot, timeoutMs - running);
  }

  private settle(slot: Slot, reply: Extract<WorkerReply, { ok: boolean }>): void {
    const task = slot.tasks[0];
    if (!task || task.id !== reply.id) return;
    slot.tasks.shift();
    if (reply.ok) task.resolve({ result: reply.result, ...("thenResult" in reply ? { thenResult: reply.thenResult } : {}) });
    else
      task.reject(
        new EvaluationError(
          reply.memory ? `the evaluation hit the memory bound: ${reply.error}` : reply.error,
          reply.memory ? "memory" : "error",
          task.then && task.inThen ? task.then : task.entrypoint,
        ),
      );
    if (slot.tasks.length > 0) this.arm(slot, this.options.bounds.timeoutMs);
    else {
      clearTimeout(slot.timer);
      this.pump();
    }
  }

  /** Fails the slot's evaluation under way, if any, puts the rest of its batch back in front, and replaces its worker. */
  private lose(slot: Slot, why: string, kind: PolicyFailureKind, entrypoint?: string): void {
    if (!this.slots.has(slot)) return;
    clearTimeout(slot.timer);
    const [task, ...rest] = slot.tasks;
    slot.tasks = [];
    this.queue.unshift(...rest);
    if (task) task.reject(new EvaluationError(kind === "timeout" ? why : `the evaluation failed: ${why}`, kind, entrypoint ?? task.entrypoint));
    this.drop(slot);
    if (slot.ready && !this.closing) {
      this.options.onWorkerLost?.(why);
      this.spawn().catch((error: unknown) => {
        this.options.onWorkerLost?.(`a replacement worker did not start: ${(error as Error).message}`);
        if (this.slots.size === 0)
          for (const queued of [...this.continuing.splice(0), ...this.queue.splice(0)])
            queued.reject(new EvaluationError("no policy worker is running", "error"));
      });
    }
    this.pump();
  }

  private drop(slot: Slot): void {
    this.slots.delete(slot);
    void slot.worker.terminate();
  }

  private async terminateAll(): Promise<void> {
    const workers = [...this.slots].map((slot) => slot.worker);
    for (const slot of this.slots) clearTimeout(slot.timer);
    this.slots.clear();
    for (const task of [...this.continuing.splice(0), ...this.queue.splice(0)]) task.reject(new EvaluationError("the policy engine is closed", "error"));
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}
