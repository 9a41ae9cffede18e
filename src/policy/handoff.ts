// The pool's side of the shared-memory hand-off to a policy worker (worker-source.ts has
// the worker's side and the layout of the control words): a batch's inputs written in
// the shared bytes and its tasks in the control words, the worker woken, its answers
// waited for (blocking, or not) and read back.
import { performance } from "node:perf_hooks";
import { CONTROL, DIRECT_STATE, TASK_WORDS } from "./worker-source.js";

/** A worker's reply to one task. */
export type TaskReply = { id: number; ok: true; result: unknown; thenResult?: unknown } | { id: number; ok: false; error: string; memory: boolean };

/** What the hand-off needs of a task: its id, entry point(s) and input. */
export interface HandedTask {
  id: number;
  entrypoint: string;
  then?: string;
  input: unknown;
}

/** Atomics.waitAsync (ES2024; in every Node this runs on, not in the ES2023 library the code is typed against). */
const { waitAsync } = Atomics as unknown as {
  waitAsync(
    this: void,
    array: Int32Array,
    index: number,
    value: number,
    timeoutMs: number,
  ): { async: false; value: string } | { async: true; value: Promise<string> };
};

/** An input's JSON; undefined when it has none (the message path then reports the evaluation's error as the worker meets it). */
function json(input: unknown): string | undefined {
  try {
    return JSON.stringify(input);
  } catch {
    return undefined; // a BigInt or a cycle
  }
}

/**
 * Writes a batch in a worker's shared memory (its inputs' JSON one after the other in
 * `bytes`, each task's words in `control`) and marks it REQUESTED. False, with nothing
 * marked, when an input does not fit, has no JSON, or names an entry point the bundle
 * lacks: the batch then goes as a message.
 */
export function writeBatch(control: Int32Array, bytes: Buffer, batch: readonly HandedTask[], entrypoints: ReadonlyMap<string, number>): boolean {
  let end = 0;
  for (const [index, task] of batch.entries()) {
    const entry = entrypoints.get(task.entrypoint);
    const then = task.then === undefined ? -1 : entrypoints.get(task.then);
    const text = json(task.input);
    if (entry === undefined || then === undefined || text === undefined) return false;
    const room = bytes.length - end;
    if (text.length * 3 > room && Buffer.byteLength(text) > room) return false;
    end += bytes.write(text, end);
    const words = CONTROL.WORDS + index * TASK_WORDS;
    control[words] = task.id;
    control[words + 1] = entry;
    control[words + 2] = then;
    control[words + 3] = end;
  }
  Atomics.store(control, CONTROL.COUNT, batch.length);
  Atomics.store(control, CONTROL.DIRECT, DIRECT_STATE.REQUESTED);
  return true;
}

/** Tells a worker sleeping on its control words that there is work. */
export function wake(control: Int32Array): void {
  Atomics.add(control, CONTROL.SIGNAL, 1);
  Atomics.notify(control, CONTROL.SIGNAL);
}

/**
 * Blocks the thread until the worker has answered the batch handed over in `control`
 * (its DIRECT word is no longer REQUESTED), for at most `blockMs`; false when it has not
 * answered by then. A wake-up alone is not an answer: the worker wakes this word after
 * each batch, and when it is descheduled between storing one batch's answer and waking
 * the pool, the pool may already have read that answer (without waiting) and handed over
 * the next batch, which the late wake-up would otherwise pass for answered.
 */
export function waitForAnswers(control: Int32Array, blockMs: number): boolean {
  const until = performance.now() + blockMs;
  for (;;) {
    if (Atomics.load(control, CONTROL.DIRECT) !== DIRECT_STATE.REQUESTED) return true;
    const left = until - performance.now();
    if (left <= 0) return false;
    Atomics.wait(control, CONTROL.DIRECT, DIRECT_STATE.REQUESTED, left);
  }
}

/**
 * The replies a worker stored in shared memory for the batch handed over (its DIRECT
 * word ANSWERED): one per task, in the batch's order. Throws when they are not a list
 * of replies, for the pool to fail the batch rather than the process.
 */
export function readAnswers(control: Int32Array, bytes: Buffer): TaskReply[] {
  const replies: unknown = JSON.parse(bytes.toString("utf8", 0, Atomics.load(control, CONTROL.LENGTH)));
  if (!Array.isArray(replies) || !replies.every((reply) => typeof (reply as Partial<TaskReply> | null)?.id === "number"))
    throw new Error("the worker's answers are not a list of replies");
  return replies as TaskReply[];
}

/**
 * Without blocking: undefined when the worker has answered the batch handed over (its
 * DIRECT word is no longer REQUESTED), otherwise a promise that settles when that word
 * changes or after `timeoutMs` (the caller looks at the word again).
 */
export function answersChanged(control: Int32Array, timeoutMs: number): Promise<string> | undefined {
  const waiting = waitAsync(control, CONTROL.DIRECT, DIRECT_STATE.REQUESTED, timeoutMs);
  return waiting.async ? waiting.value : undefined;
}
