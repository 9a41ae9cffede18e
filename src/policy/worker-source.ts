// The code each evaluation worker runs. It is plain JavaScript evaluated by
// worker_threads (eval: true) rather than a module file, so that the same code
// runs from dist/ and from the TypeScript sources under vitest. It holds one
// opa-wasm instance whose WebAssembly memory has a maximum (the memory bound);
// the time bound is the pool's, which terminates a worker that overruns.
//
// workerData: { opaWasm: path of opa-wasm's CommonJS entry, module: WebAssembly.Module,
//               data: bundle data, initialPages, maximumPages, warmup: { entrypoint, input },
//               control: Int32Array on shared memory (CONTROL below, then TASK_WORDS a task),
//               bytes: SharedArrayBuffer of a batch's inputs, then its replies; epoch: ms since the time origin }
// out: { type: "ready", entrypoints } | { type: "init_error", error }, then replies:
//      { id, ok: true, result, thenResult? } | { id, ok: false, error, memory }, one per task
//
// Once ready, the worker sleeps on control[SIGNAL] (Atomics.wait) rather than in an
// event loop: the pool bumps it to say there is work. A batch comes one of two ways:
// - handed over in shared memory (the usual way): its inputs' JSON one after the other
//   in `bytes`, COUNT tasks of TASK_WORDS words after CONTROL.WORDS (id, entry point
//   index, follow-up index or -1, end of its input), DIRECT = REQUESTED. The worker
//   writes the replies as one JSON array in `bytes`, its length in LENGTH, sets
//   DIRECT = ANSWERED and wakes the pool, which waits for it with Atomics.wait: no
//   message, no event-loop turn on either side. Replies too large for `bytes` are
//   posted as messages instead (DIRECT = POSTED).
// - as a message, [{ id, entrypoint, input, then? }, ...], when its inputs do not fit
//   in `bytes`: the worker takes it with receiveMessageOnPort and answers with one
//   message per task.
//
// Before each task the worker stamps its id and start time (STARTED_ID, STARTED_AT):
// the pool's time bound counts from there. Done, it stamps id 0 (none) before it
// replies, so that a pool late to read the reply does not take a finished task for
// one still running. IN_THEN holds the id of a task whose follow-up entry point
// began, so that a timeout names the entry point that ran long.
//
// "then" names a second entrypoint evaluated in the same trip, on the same input,
// when the first one's result is undefined or an empty list (verdict/state_queries
// saying that no state is needed: the decision can be made at once).

/** Indices in a worker's shared control words. */
export const CONTROL = {
  SIGNAL: 0,
  STARTED_ID: 1,
  STARTED_AT: 2,
  IN_THEN: 3,
  DIRECT: 4,
  COUNT: 5,
  LENGTH: 6,
  /** The first word after these: the tasks of a batch handed over. */
  WORDS: 8,
} as const;

/** Words of each task of a batch handed over: id, entry point index, follow-up index (-1: none), end of its input in `bytes`. */
export const TASK_WORDS = 4;

/** control[DIRECT]: no batch handed over, one waiting or under way, its replies in `bytes`, its replies posted as messages. */
export const DIRECT_STATE = { IDLE: 0, REQUESTED: 1, ANSWERED: 2, POSTED: 3 } as const;

export const WORKER_SOURCE = String.raw`
"use strict";
const { parentPort, workerData, receiveMessageOnPort } = require("node:worker_threads");
const { loadPolicySync } = require(workerData.opaWasm);

const control = workerData.control;
const bytes = Buffer.from(workerData.bytes);
const epoch = workerData.epoch;

let policy;
function load() {
  policy = loadPolicySync(workerData.module, { initial: workerData.initialPages, maximum: workerData.maximumPages });
  policy.setData(workerData.data);
}

function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

// opa-wasm reports a full memory as a failed grow or an aborted malloc.
function isMemoryError(message) {
  return /maximum memory|memory\.grow|out of memory|opa_malloc|allocation failed|Cannot grow/i.test(message);
}

let entrypoints;
try {
  load();
  try {
    policy.evaluate(workerData.warmup.input, workerData.warmup.entrypoint);
  } catch {
    // the warm-up only compiles the hot paths; its result does not matter
  }
  load(); // start evaluations from a clean instance
  entrypoints = Object.keys(policy.entrypoints || {});
  parentPort.postMessage({ type: "ready", entrypoints });
} catch (error) {
  parentPort.postMessage({ type: "init_error", error: describe(error) });
}

function needsNothing(resultSet) {
  if (!Array.isArray(resultSet) || resultSet.length === 0) return true;
  const value = resultSet[0] && resultSet[0].result;
  return value === undefined || (Array.isArray(value) && value.length === 0);
}

// Evaluates one task (its input an object, or an ArrayBuffer of its JSON); returns its reply.
function evaluate(task) {
  Atomics.store(control, ${CONTROL.STARTED_AT}, Math.floor(performance.timeOrigin + performance.now() - epoch));
  Atomics.store(control, ${CONTROL.STARTED_ID}, task.id);
  try {
    const result = policy.evaluate(task.input, task.entrypoint);
    if (task.then && needsNothing(result)) {
      Atomics.store(control, ${CONTROL.IN_THEN}, task.id);
      const thenResult = policy.evaluate(task.input, task.then);
      Atomics.store(control, ${CONTROL.STARTED_ID}, 0);
      return { id: task.id, ok: true, result, thenResult };
    }
    Atomics.store(control, ${CONTROL.STARTED_ID}, 0);
    return { id: task.id, ok: true, result };
  } catch (error) {
    const message = describe(error);
    // After a trap the instance may be in any state: evaluate the next one on a fresh instance.
    try {
      load();
    } catch {
      // reported by the next evaluation
    }
    Atomics.store(control, ${CONTROL.STARTED_ID}, 0);
    return { id: task.id, ok: false, error: message, memory: isMemoryError(message) };
  }
}

function handedOver() {
  const replies = [];
  let start = 0;
  for (let index = 0, count = Atomics.load(control, ${CONTROL.COUNT}); index < count; index++) {
    const words = ${CONTROL.WORDS} + index * ${TASK_WORDS};
    const end = control[words + 3];
    const input = new ArrayBuffer(end - start); // opa-wasm copies an ArrayBuffer of JSON into its memory as it is
    new Uint8Array(input).set(bytes.subarray(start, end));
    start = end;
    const then = control[words + 2];
    replies.push(evaluate({ id: control[words], entrypoint: entrypoints[control[words + 1]], then: then >= 0 ? entrypoints[then] : undefined, input }));
  }
  const text = JSON.stringify(replies);
  if (text.length * 3 <= bytes.length || Buffer.byteLength(text) <= bytes.length) {
    Atomics.store(control, ${CONTROL.LENGTH}, bytes.write(text, 0));
    Atomics.store(control, ${CONTROL.DIRECT}, ${DIRECT_STATE.ANSWERED});
  } else {
    for (const reply of replies) parentPort.postMessage(reply);
    Atomics.store(control, ${CONTROL.DIRECT}, ${DIRECT_STATE.POSTED});
  }
  Atomics.notify(control, ${CONTROL.DIRECT});
}

let seen = 0;
while (entrypoints) {
  Atomics.wait(control, ${CONTROL.SIGNAL}, seen);
  seen = Atomics.load(control, ${CONTROL.SIGNAL});
  if (Atomics.load(control, ${CONTROL.DIRECT}) === ${DIRECT_STATE.REQUESTED}) handedOver();
  for (let batch = receiveMessageOnPort(parentPort); batch; batch = receiveMessageOnPort(parentPort)) {
    for (const task of batch.message) parentPort.postMessage(evaluate(task));
  }
}
`;
