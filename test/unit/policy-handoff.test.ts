// The pool's wait for a batch handed over to a policy worker in shared memory
// (src/policy/handoff.ts): a batch written as the worker reads it, and a wake-up is not an answer. A worker descheduled between
// storing one batch's answer and waking the pool wakes it late, while the next batch
// is already handed over; taking that wake-up for the answer made the pool read the
// batch's inputs as replies and the process exit (seen in bench scenario e at c64).
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { CONTROL, DIRECT_STATE, readAnswers, TASK_WORDS, waitForAnswers, writeBatch } from "../../src/policy/index.js";

/** A thread that wakes the pool's word without answering (a late wake-up), then answers after `answerAfterMs`. */
function lateWaker(control: Int32Array, answerAfterMs: number): Worker {
  return new Worker(
    `
    const { workerData } = require("node:worker_threads");
    const { control, direct, answered, answerAfterMs } = workerData;
    // Spin until the pool waits on the word, so that the wake-up reaches a waiter.
    while (Atomics.notify(control, direct, 1) === 0);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, answerAfterMs);
    Atomics.store(control, direct, answered);
    Atomics.notify(control, direct);
    `,
    { eval: true, workerData: { control, direct: CONTROL.DIRECT, answered: DIRECT_STATE.ANSWERED, answerAfterMs } },
  );
}

function handedOver(): Int32Array {
  const control = new Int32Array(new SharedArrayBuffer(CONTROL.WORDS * Int32Array.BYTES_PER_ELEMENT));
  Atomics.store(control, CONTROL.DIRECT, DIRECT_STATE.REQUESTED);
  return control;
}

describe("waiting for a batch handed over to a policy worker", () => {
  it("does not take a wake-up without an answer for the answer: it waits on until the worker answers", async () => {
    const control = handedOver();
    const worker = lateWaker(control, 50);
    const started = performance.now();
    expect(waitForAnswers(control, 5_000)).toBe(true);
    expect(Atomics.load(control, CONTROL.DIRECT)).toBe(DIRECT_STATE.ANSWERED);
    expect(performance.now() - started).toBeGreaterThanOrEqual(40);
    await worker.terminate();
  });

  it("gives up after its bound when the worker has not answered, however often it is woken", async () => {
    const control = handedOver();
    const worker = lateWaker(control, 10_000);
    const started = performance.now();
    expect(waitForAnswers(control, 100)).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(Atomics.load(control, CONTROL.DIRECT)).toBe(DIRECT_STATE.REQUESTED);
    await worker.terminate();
  });

  it("answers at once, without waiting, when the worker has already answered", () => {
    const control = handedOver();
    Atomics.store(control, CONTROL.DIRECT, DIRECT_STATE.POSTED);
    expect(waitForAnswers(control, 0)).toBe(true);
  });
});

describe("reading the answers a policy worker stored in shared memory", () => {
  const stored = (text: string) => {
    const control = handedOver();
    const bytes = Buffer.alloc(1024);
    Atomics.store(control, CONTROL.LENGTH, bytes.write(text, 0));
    return { control, bytes };
  };

  it("reads the worker's list of replies", () => {
    const { control, bytes } = stored(
      JSON.stringify([
        { id: 7, ok: true, result: [{ result: true }] },
        { id: 8, ok: false, error: "trap", memory: false },
      ]),
    );
    expect(readAnswers(control, bytes)).toEqual([
      { id: 7, ok: true, result: [{ result: true }] },
      { id: 8, ok: false, error: "trap", memory: false },
    ]);
  });

  it("throws, for the pool to fail the batch, when the memory holds a batch's inputs rather than replies", () => {
    // What the pool found there when it took a late wake-up for an answer: the next batch's inputs, one JSON after another.
    const inputs = stored(`${JSON.stringify({ action: "invoices:read" })}${JSON.stringify({ action: "invoices:read" })}`);
    expect(() => readAnswers(inputs.control, inputs.bytes)).toThrow(SyntaxError);
    const one = stored(JSON.stringify({ action: "invoices:read" }));
    expect(() => readAnswers(one.control, one.bytes)).toThrow("not a list of replies");
    const others = stored(JSON.stringify([{ action: "invoices:read" }]));
    expect(() => readAnswers(others.control, others.bytes)).toThrow("not a list of replies");
  });
});

describe("writing a batch in a policy worker's shared memory", () => {
  const entrypoints = new Map([
    ["verdict/state_queries", 0],
    ["verdict/decision", 1],
  ]);
  const memory = (bytes: number) => ({
    control: new Int32Array(new SharedArrayBuffer((CONTROL.WORDS + 2 * TASK_WORDS) * Int32Array.BYTES_PER_ELEMENT)),
    bytes: Buffer.from(new SharedArrayBuffer(bytes)),
  });

  it("writes each input's JSON one after the other and each task's words (id, entry point, follow-up or -1, end), then marks the batch requested", () => {
    const { control, bytes } = memory(1024);
    const batch = [
      { id: 41, entrypoint: "verdict/state_queries", then: "verdict/decision", input: { action: "transfer" } },
      { id: 42, entrypoint: "verdict/decision", input: { note: "é" } },
    ];
    expect(writeBatch(control, bytes, batch, entrypoints)).toBe(true);
    const first = JSON.stringify(batch[0]?.input);
    const end = Buffer.byteLength(first) + Buffer.byteLength(JSON.stringify(batch[1]?.input));
    expect([...control.subarray(CONTROL.WORDS, CONTROL.WORDS + 2 * TASK_WORDS)]).toEqual([41, 0, 1, first.length, 42, 1, -1, end]);
    expect(bytes.toString("utf8", 0, end)).toBe('{"action":"transfer"}{"note":"é"}');
    expect(Atomics.load(control, CONTROL.COUNT)).toBe(2);
    expect(Atomics.load(control, CONTROL.DIRECT)).toBe(DIRECT_STATE.REQUESTED);
  });

  it("leaves the batch unmarked, for the pool to send it as a message, when an input does not fit, has no JSON or names an unknown entry point", () => {
    const refused = [
      { input: { text: "x".repeat(100) }, entrypoint: "verdict/decision" },
      { input: { big: 1n }, entrypoint: "verdict/decision" },
      { input: {}, entrypoint: "verdict/other" },
    ];
    for (const { input, entrypoint } of refused) {
      const { control, bytes } = memory(64);
      expect(writeBatch(control, bytes, [{ id: 1, entrypoint, input }], entrypoints)).toBe(false);
      expect(Atomics.load(control, CONTROL.DIRECT)).toBe(DIRECT_STATE.IDLE);
    }
  });
});
