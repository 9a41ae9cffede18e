// The code each evaluation worker runs. It is plain JavaScript evaluated by
// worker_threads (eval: true) rather than a module file, so that the same code
// runs from dist/ and from the TypeScript sources under vitest. It holds one
// opa-wasm instance whose WebAssembly memory has a maximum (the memory bound);
// the time bound is the pool's, which terminates a worker that overruns.
//
// workerData: { opaWasm: path of opa-wasm's CommonJS entry, module: WebAssembly.Module,
//               data: bundle data, initialPages, maximumPages, warmup: { entrypoint, input },
//               started: Int32Array on shared memory, epoch: ms since the time origin }
// in:  [{ id, entrypoint, input, then? }, ...] (a batch, evaluated in order)
// out: { type: "ready", entrypoints } | { type: "init_error", error }
//      | { id, phase: "then" } (the follow-up began) | { id, ok: true, result, thenResult? } | { id, ok: false, error, memory } (one per task)
//
// Before each task the worker stamps its id and start time in `started`: the pool's
// time bound counts from there. Done, it stamps id 0 (none) before it replies, so
// that a main thread late to read the reply does not take a finished task for one
// still running.
//
// "then" names a second entrypoint evaluated in the same trip, on the same input,
// when the first one's result is undefined or an empty list (verdict/state_queries
// saying that no state is needed: the decision can be made at once).
export const WORKER_SOURCE = String.raw`
"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const { loadPolicySync } = require(workerData.opaWasm);

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

try {
  load();
  try {
    policy.evaluate(workerData.warmup.input, workerData.warmup.entrypoint);
  } catch {
    // the warm-up only compiles the hot paths; its result does not matter
  }
  load(); // start evaluations from a clean instance
  parentPort.postMessage({ type: "ready", entrypoints: Object.keys(policy.entrypoints || {}) });
} catch (error) {
  parentPort.postMessage({ type: "init_error", error: describe(error) });
}

function needsNothing(resultSet) {
  if (!Array.isArray(resultSet) || resultSet.length === 0) return true;
  const value = resultSet[0] && resultSet[0].result;
  return value === undefined || (Array.isArray(value) && value.length === 0);
}

const started = workerData.started;
const epoch = workerData.epoch;

function evaluate(task) {
  Atomics.store(started, 1, Math.floor(performance.timeOrigin + performance.now() - epoch));
  Atomics.store(started, 0, task.id);
  try {
    const result = policy.evaluate(task.input, task.entrypoint);
    if (task.then && needsNothing(result)) {
      parentPort.postMessage({ id: task.id, phase: "then" }); // so that a timeout says which entry point ran long
      const thenResult = policy.evaluate(task.input, task.then);
      Atomics.store(started, 0, 0);
      parentPort.postMessage({ id: task.id, ok: true, result, thenResult });
    } else {
      Atomics.store(started, 0, 0);
      parentPort.postMessage({ id: task.id, ok: true, result });
    }
  } catch (error) {
    const message = describe(error);
    // After a trap the instance may be in any state: evaluate the next one on a fresh instance.
    try {
      load();
    } catch {
      // reported by the next evaluation
    }
    Atomics.store(started, 0, 0);
    parentPort.postMessage({ id: task.id, ok: false, error: message, memory: isMemoryError(message) });
  }
}

parentPort.on("message", (batch) => {
  for (const task of batch) evaluate(task);
});
`;
