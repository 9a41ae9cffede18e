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
// The evaluations that came in one turn of the event loop are handed to an idle
// worker together at its end, through memory shared with the worker (handoff.ts), and the
// thread waits for the answers with Atomics.wait for at most SYNC_WAIT_MS: it
// gives its CPU to the evaluations instead of returning to its event loop and
// coming back for a message (on a busy machine that turn was most of a decision's
// latency). Answers not in by then are waited for asynchronously under the usual
// time bound, so a runaway policy, or a flood of batches, stalls the thread for
// SYNC_WAIT_MS at most in a turn. Inputs too large for the shared memory go as a
// message, as the worker's answers too large for it come back.
//
// The queue's bound is about callers, not evaluations: a decision (a Check, or all
// the items of a CheckBatch together) is admitted as one, all or none, and refused
// at once with EvaluationOverloadedError (gRPC RESOURCE_EXHAUSTED, retry later)
// when too many decisions, or too many evaluations, already wait; an admitted one
// whose first evaluation has not started by its time bound (waiting.ts: the queue's
// bound in time, or its caller's deadline) is refused whole the same way. Evaluations
// that continue an admitted decision are never refused (that could leave a batch half
// applied) and go first.
//
// A worker that cannot start (a thread or memory the system does not have now) leaves
// the pool smaller; when it leaves it with none, decisions are refused at once (fail
// closed), and another start is tried in the background, later each time, until one
// starts or the pool closes: a passing shortage must not stop the process deciding
// until a new bundle loads. A worker that has not loaded within LOAD_TIMEOUT_MS (a
// thread starved while loading, a hung instantiation) is ended and counts as one that
// did not start: left in the pool, it would hold the place of a worker that serves.
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { overloadPushbackMs, VerdictError } from "../errors/index.js";
import { PolicyError } from "./output.js";
import { WaitingDecisions, type Waiting } from "./waiting.js";
import { answersChanged, readAnswers, wake, waitForAnswers, writeBatch, type TaskReply } from "./handoff.js";
import { CONTROL, DIRECT_STATE, TASK_WORDS, WORKER_SOURCE } from "./worker-source.js";

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
  /** How long a new decision may wait for its first evaluation to start before it is refused whole (overloaded). */
  queueTimeoutMs: number;
}

// 64 callers in flight with batches of max_batch_items (100) is 6,400 evaluations: it fits; a flood does not (8,192 is a second or two of work).
// A decision waits at most 5 s for its first evaluation (as for the database: state_queue_timeout_ms), or until its caller's deadline.
export const DEFAULT_BOUNDS: EvaluationBounds = {
  timeoutMs: 250,
  memoryMb: 64,
  workers: 2,
  maxQueue: 1024,
  maxQueuedEvaluations: 8_192,
  queueTimeoutMs: 5_000,
};

export type PolicyFailureKind = "timeout" | "memory" | "error";

/**
 * The pool refused a decision's evaluations as a whole: too much already waits. No
 * decision, nothing applied; retry later, after `retryAfterMs` (drawn from the queue's
 * bound in time, `queueBoundMs`: overloadPushbackMs).
 */
export class EvaluationOverloadedError extends VerdictError {
  constructor(message: string, queueBoundMs: number) {
    super("overloaded", message, { retryAfterMs: overloadPushbackMs(queueBoundMs) });
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

/** Why the structured clone (postMessage) cannot copy `input`, if it cannot. */
function uncloneable(input: unknown): string | undefined {
  try {
    structuredClone(input);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
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
  resolve(result: Evaluated): void;
  reject(error: Error): void;
  /** The new decision it is part of, until one of its evaluations starts (always present, so that every task has one shape). */
  decision: AdmittedDecision | undefined;
}

/** A new decision's evaluations, waiting under its time bound until the first of them starts. */
interface AdmittedDecision extends Waiting {
  tasks: Task[];
}

/** How an evaluation is admitted: as a new decision (bounded), or continuing one already admitted (never refused). */
export type EvaluationAdmission = "new" | "continuing";

interface Slot {
  worker: Worker;
  /** The batch it is evaluating, in order; the first is the one under way or next. */
  tasks: Task[];
  ready: boolean;
  /** Shared with the worker: the words of worker-source.ts's CONTROL (the task it started and when, in ms since the pool's epoch; a batch handed over). */
  control: Int32Array;
  /** Shared with the worker: a batch's inputs' JSON, then its replies'. */
  bytes: Buffer;
  /** The bound of its evaluation under way; while it loads, of its load. */
  timer?: NodeJS.Timeout;
}

/** Evaluations sent to a worker in one message at most. */
const MAX_BATCH = 32;
/** How long the thread blocks for the answers to the batches it hands over in one pump() before waiting asynchronously. */
const SYNC_WAIT_MS = 5;
/** Bytes of a batch's inputs or replies (JSON) handed over in shared memory; larger inputs go as a message, larger replies come as messages. */
const DIRECT_BYTES = 256 * 1024;
/** After a worker did not start, the next start waits this long, twice as long after each further failure (a shortage that lasts is not hammered), up to RESTART_MAX_MS; back to this once one starts. */
const RESTART_FIRST_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/**
 * A worker that has not loaded within this (instantiating the bundle and its warm-up evaluation: well
 * under a second) is ended, and its start fails. Generous, for slow shared machines, because the pool's
 * first start (EvaluatorPool.start) is bounded by it too: a load that is only slow must not fail
 * Verdict's start. Half the cluster's bound on a process's start (START_DEADLINE_MS, 60 s), so that a
 * process whose first worker hung normally fails its start with this reason before its primary ends it
 * with none (a start that goes on to the bundle's copy may load twice).
 */
const LOAD_TIMEOUT_MS = 30_000;

type WorkerReply = { type: "ready"; entrypoints: string[] } | { type: "init_error"; error: string } | TaskReply;

export interface PoolOptions {
  module: WasmModule;
  data: Record<string, unknown>;
  bounds: EvaluationBounds;
  /** Evaluated once per worker at start so that the first real evaluation is not the slow one. */
  warmup: { entrypoint: string; input: unknown };
  /** Called when a worker had to be replaced (it overran, crashed), and for each start that failed (with when the next is tried, if none is left). */
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
  /** A pump() is due at the end of this turn of the event loop. */
  private dispatching = false;
  /** Workers being started (beyond the first) because evaluations wait. */
  private spawning = 0;
  /** The backoff after a worker did not start: none starts beside those running before this (performance.now()). */
  private startsAfter = 0;
  /** The backoff after the next start that fails. */
  private restartMs = RESTART_FIRST_MS;
  /** With no worker left, the next try to start one. */
  private restartTimer: NodeJS.Timeout | undefined;
  /** The epoch of the workers' start stamps (performance.now() when the pool started). */
  private readonly epoch = performance.now();
  /** The bundle's entry points, in the workers' order: a batch handed over names them by index. */
  private entrypoints = new Map<string, number>();
  /** New decisions none of whose evaluations has started, under their time bound. */
  private readonly waiting = new WaitingDecisions<AdmittedDecision>((expired) => this.refuseWaiting(expired));

  private constructor(private readonly options: PoolOptions) {}

  /** Starts the first worker; resolves with the bundle's entrypoints once it is ready. The others start when evaluations wait. */
  static async start(options: PoolOptions): Promise<{ pool: EvaluatorPool; entrypoints: string[] }> {
    const pool = new EvaluatorPool(options);
    try {
      const entrypoints = await pool.spawn();
      pool.entrypoints = new Map(entrypoints.map((name, index) => [name, index]));
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
    try {
      return this.evaluateAll([request])[0] as Promise<Evaluated>;
    } catch (error) {
      // Refused as a whole (EvaluationOverloadedError): a rejection, as for any other failure.
      return Promise.reject(error instanceof Error ? error : new VerdictError("internal", String(error)));
    }
  }

  /**
   * Admits one decision's evaluations together, all or none: throws
   * EvaluationOverloadedError, with nothing queued, when `maxQueue` decisions are
   * already admitted or the evaluations do not fit beside those waiting
   * (`maxQueuedEvaluations`); otherwise one promise per request, in order, each
   * settling like evaluateThen's, or all rejecting with EvaluationOverloadedError
   * when none has started by `queueTimeoutMs` from now or by `answerBy` (the
   * caller's deadline, ms since the epoch), whichever is first.
   */
  evaluateAll(requests: readonly EvaluationRequest[], answerBy?: number): Promise<Evaluated>[] {
    if (requests.length === 0) return [];
    const refused = this.refusal(requests.length);
    if (refused) throw refused;
    const decision: AdmittedDecision = { ...WaitingDecisions.limitOf(this.options.bounds.queueTimeoutMs, answerBy), tasks: [] };
    const promises = this.enqueue(requests, this.queue, decision);
    if (this.closing || this.slots.size === 0) return promises;
    this.waiting.add(decision);
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
    const { maxQueue, maxQueuedEvaluations, queueTimeoutMs } = this.options.bounds;
    if (this.admittedDecisions >= maxQueue)
      return new EvaluationOverloadedError(`${this.admittedDecisions} decisions are already waiting for policy evaluation`, queueTimeoutMs);
    const waiting = this.queue.length + this.continuing.length;
    if (waiting > 0 && waiting + evaluations > maxQueuedEvaluations) {
      return new EvaluationOverloadedError(`${waiting} policy evaluations are already waiting; ${evaluations} more do not fit`, queueTimeoutMs);
    }
    return undefined;
  }

  /**
   * Refuses new decisions that waited past their time bound, whole: their evaluations
   * leave the queue unevaluated (none had started) and reject as overloaded.
   */
  private refuseWaiting(expired: readonly AdmittedDecision[]): void {
    const now = performance.now();
    const leaving = new Set<Task>();
    for (const decision of expired) for (const task of decision.tasks) leaving.add(task);
    const staying = this.queue.filter((task) => !leaving.has(task));
    this.queue.splice(0, this.queue.length, ...staying);
    for (const decision of expired) {
      const waited = Math.round(now - decision.admittedAt);
      const why =
        decision.bound === "caller"
          ? `its caller's deadline passed after ${waited} ms waiting for policy evaluation`
          : `it waited ${waited} ms for policy evaluation (the bound is ${this.options.bounds.queueTimeoutMs} ms)`;
      for (const task of decision.tasks) task.reject(new EvaluationOverloadedError(why, this.options.bounds.queueTimeoutMs));
    }
    this.pump(); // a closing pool may have nothing left to wait for
  }

  private enqueue(requests: readonly EvaluationRequest[], queue: Task[], decision?: AdmittedDecision): Promise<Evaluated>[] {
    if (this.closing) return requests.map(() => Promise.reject(new EvaluationError("the policy engine is closed", "error")));
    if (this.slots.size === 0) return requests.map(() => Promise.reject(new EvaluationError("no policy worker is running", "error")));
    const tasks: Task[] = [];
    const promises = requests.map(
      ({ entrypoint, input, then }) =>
        new Promise<Evaluated>((resolve, reject) => {
          tasks.push({ id: this.nextId++, entrypoint, ...(then ? { then } : {}), input, resolve, reject, decision });
        }),
    );
    if (decision) decision.tasks = tasks;
    queue.push(...tasks);
    // Sent at the end of this turn of the event loop, together with the evaluations that came in it.
    if (!this.dispatching) {
      this.dispatching = true;
      setImmediate(() => {
        this.dispatching = false;
        this.pump();
      });
    }
    return promises;
  }

  /**
   * Writes a batch's inputs in the slot's shared memory, wakes its worker and blocks
   * up to `blockMs` for the answers (see the top of this file); then waits for them
   * asynchronously under the time bound. False, with nothing sent, when the inputs
   * do not fit (the batch goes as a message).
   */
  private handOver(slot: Slot, batch: readonly Task[], blockMs: number): boolean {
    const { control, bytes } = slot;
    if (!writeBatch(control, bytes, batch, this.entrypoints)) return false;
    wake(control);
    if (waitForAnswers(control, blockMs)) this.answered(slot);
    else {
      this.arm(slot, this.options.bounds.timeoutMs);
      this.awaitAnswers(slot, batch[0] as Task);
    }
    return true;
  }

  /** Waits without blocking for the answers to a batch handed over; the slot's timer bounds each evaluation meanwhile. */
  private awaitAnswers(slot: Slot, first: Task): void {
    const changed = answersChanged(slot.control, this.options.bounds.timeoutMs);
    if (!changed) return this.answered(slot);
    void changed.then(() => {
      if (!this.slots.has(slot) || slot.tasks[0] !== first) return; // lost meanwhile: the pool has dealt with its tasks
      if (Atomics.load(slot.control, CONTROL.DIRECT) === DIRECT_STATE.REQUESTED) return this.awaitAnswers(slot, first);
      this.answered(slot);
      this.pump();
    });
  }

  /**
   * Settles a batch handed over whose answers are in (or, too large, are coming as
   * messages). Answers that cannot be read, or that are not one per task of the batch,
   * fail the batch's evaluation under way, put the rest back and replace the worker
   * (as a crash does), rather than leaving the batch unanswered or ending the process.
   */
  private answered(slot: Slot): void {
    const state = Atomics.load(slot.control, CONTROL.DIRECT);
    if (state === DIRECT_STATE.POSTED) return void Atomics.store(slot.control, CONTROL.DIRECT, DIRECT_STATE.IDLE);
    if (state !== DIRECT_STATE.ANSWERED) return this.lose(slot, "the worker has not answered the batch handed over", "error");
    Atomics.store(slot.control, CONTROL.DIRECT, DIRECT_STATE.IDLE);
    clearTimeout(slot.timer);
    let replies: TaskReply[];
    try {
      replies = readAnswers(slot.control, slot.bytes);
    } catch (error) {
      return this.lose(slot, `unreadable answers: ${(error as Error).message}`, "error");
    }
    for (const reply of replies) if (!this.settleNext(slot, reply)) break;
    if (slot.tasks.length > 0) this.lose(slot, "the worker's answers are not those of the batch handed over", "error");
  }

  /** True when an evaluation would start at once (no queueing). */
  hasIdleWorker(): boolean {
    for (const slot of this.slots) if (slot.ready && slot.tasks.length === 0) return this.queue.length === 0 && this.continuing.length === 0;
    return false;
  }

  /** True when a worker has started (not only being started). */
  private running(): boolean {
    for (const slot of this.slots) if (slot.ready) return true;
    return false;
  }

  /** Lets evaluations in flight and queued finish, then stops the workers. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.restartTimer);
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
    const control = new Int32Array(new SharedArrayBuffer((CONTROL.WORDS + MAX_BATCH * TASK_WORDS) * Int32Array.BYTES_PER_ELEMENT));
    const bytes = new SharedArrayBuffer(DIRECT_BYTES);
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          opaWasm: opaWasmPath,
          module,
          data,
          initialPages: Math.min(5, maximumPages),
          maximumPages,
          warmup,
          control,
          bytes,
          epoch: performance.timeOrigin + this.epoch,
        },
        // The JavaScript side (results, data) gets a bound of its own, beside the WebAssembly memory: twice
        // that memory's, because Node 24's V8 weighs the WebAssembly memory against the old generation's
        // limit, and at an equal limit an evaluation that fills its memory spent seconds collecting garbage
        // before it failed (2.8 s against 0.1 s at 64 MB; Node 20 was not affected).
        resourceLimits: { maxOldGenerationSizeMb: Math.max(32, 2 * bounds.memoryMb), maxYoungGenerationSizeMb: 16 },
        stdout: true,
        stderr: true,
      });
    } catch (error) {
      // Node throws here when it cannot create the thread (ERR_WORKER_INIT_FAILED: EAGAIN): a start that failed, as
      // one that fails while loading, not an exception thrown at whatever lost a worker (a timer: the process would end).
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    worker.unref(); // an idle pool never keeps the process alive; a pending evaluation's timer does
    // Whatever a policy prints is not Verdict's output (stdout is the CLI's): discard it.
    worker.stdout.resume();
    worker.stderr.resume();
    const slot: Slot = { worker, tasks: [], ready: false, control, bytes: Buffer.from(bytes) };
    this.slots.add(slot);
    return new Promise<string[]>((resolve, reject) => {
      // Ready, failed or exited, each clears it; terminateAll() (close) and lose() clear it too.
      slot.timer = setTimeout(() => {
        if (slot.ready || !this.slots.has(slot)) return;
        reject(new PolicyError(`the policy worker did not load within ${LOAD_TIMEOUT_MS / 1_000} s`));
        this.drop(slot);
      }, LOAD_TIMEOUT_MS);
      slot.timer.unref(); // a worker loading is no reason to keep the process
      worker.on("message", (reply: WorkerReply) => {
        if ("type" in reply) {
          if (!slot.ready) clearTimeout(slot.timer);
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
        this.settle(slot, reply);
      });
      worker.on("error", (error) => {
        if (!slot.ready) {
          clearTimeout(slot.timer);
          reject(new PolicyError(`the policy does not load: ${error.message}`));
        }
        this.lose(slot, `worker failed: ${error.message}`, error.message.includes("memory") ? "memory" : "error");
      });
      worker.on("exit", () => {
        if (!slot.ready) {
          clearTimeout(slot.timer);
          reject(new PolicyError("the policy worker exited while loading"));
        }
        if (this.slots.has(slot)) this.lose(slot, "worker exited", "error");
      });
    });
  }

  /** Sends waiting evaluations, a batch at a time, to idle workers: handed over in shared memory, or as a message when they do not fit. */
  private pump(): void {
    // The thread blocks for answers SYNC_WAIT_MS at most in one call; later batches are waited for asynchronously.
    const blockUntil = performance.now() + Math.min(SYNC_WAIT_MS, this.options.bounds.timeoutMs);
    while (this.queue.length > 0 || this.continuing.length > 0) {
      let slot: Slot | undefined;
      for (const candidate of this.slots) if (candidate.ready && candidate.tasks.length === 0) slot = candidate;
      if (!slot) break;
      const batch = this.continuing.splice(0, MAX_BATCH);
      if (batch.length < MAX_BATCH) batch.push(...this.started(this.queue.splice(0, MAX_BATCH - batch.length)));
      slot.tasks = batch;
      if (this.handOver(slot, batch, blockUntil - performance.now())) continue;
      this.post(slot, batch);
    }
    // Evaluations wait: start another worker, up to the bound, but not during a backoff, nor with none running: lose() and its
    // retries start that one, one at a time, backing off (from here, one failing while it loads was tried again at once, in a loop).
    if (
      this.queue.length + this.continuing.length > 0 &&
      !this.closing &&
      this.slots.size + this.spawning < Math.max(1, this.options.bounds.workers) &&
      performance.now() >= this.startsAfter &&
      this.running()
    ) {
      this.spawning += 1;
      void this.startWorker("another worker").finally(() => (this.spawning -= 1));
    }
    if (this.closing && !this.busy()) this.drained?.();
  }

  /**
   * Sends a batch as a message. An input the structured clone cannot copy (nested
   * thousands deep: a RangeError, thrown here, in a turn of its own, would end the
   * process) fails its own evaluation; the rest of the batch is sent.
   */
  private post(slot: Slot, batch: Task[]): void {
    const send = (tasks: readonly Task[]) =>
      slot.worker.postMessage(tasks.map((task) => ({ id: task.id, entrypoint: task.entrypoint, then: task.then, input: task.input })));
    try {
      send(batch);
    } catch {
      const sendable = batch.filter((task) => {
        const why = uncloneable(task.input);
        if (why !== undefined) task.reject(new EvaluationError(`the policy input cannot be handed to the policy worker: ${why}`, "error", task.entrypoint));
        return why === undefined;
      });
      slot.tasks = sendable;
      try {
        if (sendable.length > 0) send(sendable);
      } catch (error) {
        for (const task of sendable)
          task.reject(new EvaluationError(`the policy inputs cannot be handed to the policy worker: ${(error as Error).message}`, "error", task.entrypoint));
        slot.tasks = [];
      }
      if (slot.tasks.length === 0) return;
    }
    this.arm(slot, this.options.bounds.timeoutMs);
    wake(slot.control);
  }

  /** Tasks taken off the queue for a worker: their decisions have started and are no longer refused for waiting. */
  private started(tasks: Task[]): Task[] {
    for (const task of tasks)
      if (task.decision) {
        this.waiting.started(task.decision);
        task.decision = undefined; // not `delete`, which would turn the task into a slower dictionary object
      }
    return tasks;
  }

  /** Checks the slot's evaluation under way after `ms`: the bound counts from when the worker started it. */
  private arm(slot: Slot, ms: number): void {
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => this.check(slot), Math.max(1, Math.ceil(ms)));
  }

  private check(slot: Slot): void {
    if (slot.tasks.length === 0 || !this.slots.has(slot)) return;
    const { timeoutMs } = this.options.bounds;
    const task = this.underWay(slot);
    // None started yet (the worker is still on the previous one, or not scheduled), or between two: wait a bound more.
    if (!task) return this.arm(slot, timeoutMs);
    const running = elapsedMs(performance.now() - this.epoch, Atomics.load(slot.control, CONTROL.STARTED_AT));
    if (running >= timeoutMs) {
      const where = this.where(slot, task);
      this.lose(slot, `evaluating ${where} took longer than ${timeoutMs} ms`, "timeout", where);
    } else this.arm(slot, timeoutMs - running);
  }

  /** The slot's task its worker says it is evaluating, if any. */
  private underWay(slot: Slot): Task | undefined {
    const id = Atomics.load(slot.control, CONTROL.STARTED_ID);
    return id === 0 ? undefined : slot.tasks.find((task) => task.id === id);
  }

  /** Settles the reply to a batch sent as a message, or its answer too large for shared memory. */
  private settle(slot: Slot, reply: TaskReply): void {
    if (!this.settleNext(slot, reply)) return;
    if (slot.tasks.length > 0) this.arm(slot, this.options.bounds.timeoutMs);
    else {
      clearTimeout(slot.timer);
      this.pump();
    }
  }

  /** Settles the slot's first task with its reply; false when the reply is not that task's. */
  private settleNext(slot: Slot, reply: TaskReply): boolean {
    const task = slot.tasks[0];
    if (!task || task.id !== reply.id) return false;
    slot.tasks.shift();
    if (reply.ok) task.resolve({ result: reply.result, ...("thenResult" in reply ? { thenResult: reply.thenResult } : {}) });
    else
      task.reject(
        new EvaluationError(
          reply.memory ? `the evaluation hit the memory bound: ${reply.error}` : reply.error,
          reply.memory ? "memory" : "error",
          this.where(slot, task),
        ),
      );
    return true;
  }

  /** Where a task stopped: the entry point being evaluated (the second of a two-step trip once the worker said it began it). */
  private where(slot: Slot, task: Task): string {
    return task.then && Atomics.load(slot.control, CONTROL.IN_THEN) === task.id ? task.then : task.entrypoint;
  }

  /**
   * Fails the slot's evaluation under way (or its first), puts the rest of its batch
   * back in front (those of a batch handed over that had finished are evaluated again:
   * an evaluation has no effects), and replaces its worker.
   */
  private lose(slot: Slot, why: string, kind: PolicyFailureKind, entrypoint?: string): void {
    if (!this.slots.has(slot)) return;
    clearTimeout(slot.timer);
    const task = this.underWay(slot) ?? slot.tasks[0];
    const rest = slot.tasks.filter((other) => other !== task);
    slot.tasks = [];
    this.queue.unshift(...rest);
    if (task) task.reject(new EvaluationError(kind === "timeout" ? why : `the evaluation failed: ${why}`, kind, entrypoint ?? task.entrypoint));
    this.drop(slot);
    // Closing, no replacement starts: with no worker left, what waits could never be answered (nor the close end).
    if (this.closing && this.slots.size === 0) {
      for (const queued of [...this.continuing.splice(0), ...this.queue.splice(0)]) queued.reject(new EvaluationError("the policy engine is closed", "error"));
    }
    if (slot.ready && !this.closing) {
      this.options.onWorkerLost?.(why);
      void this.startWorker("a replacement worker");
    }
    this.pump();
  }

  /**
   * Starts a worker (`which`, for onWorkerLost). One that does not start holds the next
   * back (the backoff); when none is left, what waits is refused (nothing would answer
   * it; enqueue() refuses what comes next at once) and another start is tried when the
   * backoff ends, until one starts or the pool closes.
   */
  private startWorker(which: string): Promise<void> {
    return this.spawn().then(
      () => void (this.restartMs = RESTART_FIRST_MS),
      (error: unknown) => {
        const none = this.slots.size === 0;
        if (none)
          for (const queued of [...this.continuing.splice(0), ...this.queue.splice(0)])
            queued.reject(new EvaluationError("no policy worker is running", "error"));
        if (this.closing) return this.pump(); // a close may have been waiting for what was refused
        const delay = this.restartMs;
        this.restartMs = Math.min(RESTART_MAX_MS, 2 * delay);
        this.startsAfter = performance.now() + delay;
        if (none && !this.restartTimer) {
          this.restartTimer = setTimeout(() => {
            this.restartTimer = undefined;
            if (!this.closing && this.slots.size === 0) void this.startWorker("a replacement worker");
          }, delay);
          this.restartTimer.unref(); // a pool with no worker has nothing pending to keep the process for
        }
        this.options.onWorkerLost?.(`${which} did not start: ${(error as Error).message}${none ? `; trying again in ${delay / 1000} s` : ""}`);
      },
    );
  }

  private drop(slot: Slot): void {
    clearTimeout(slot.timer);
    this.slots.delete(slot);
    void slot.worker.terminate();
  }

  private async terminateAll(): Promise<void> {
    const workers = [...this.slots].map((slot) => slot.worker);
    for (const slot of this.slots) clearTimeout(slot.timer);
    this.slots.clear();
    this.waiting.clear();
    for (const task of [...this.continuing.splice(0), ...this.queue.splice(0)]) task.reject(new EvaluationError("the policy engine is closed", "error"));
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/**
 * Milliseconds from a worker's start stamp to `now` (both in ms since the pool's epoch). The stamp is kept in an
 * Int32Array, so after 2^31 ms (24.9 days of one bundle) it wraps; the difference is taken the same way, modulo
 * 2^32, and stays right for any evaluation shorter than that. (Subtracted as numbers, every evaluation under way
 * looked 49.7 days old once the stamp wrapped, and was stopped as timed out.)
 */
export function elapsedMs(now: number, startedAt: number): number {
  return (Math.floor(now) - startedAt) | 0;
}
