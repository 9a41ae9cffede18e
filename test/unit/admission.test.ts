// Admission of decisions to the database: first come first served by arrival, a
// bounded number at once, a bounded wait, and a typed refusal past it.
import { describe, expect, it } from "vitest";
import { Admission, OverloadedError } from "../../src/state/index.js";
import { mappingOf } from "../../src/errors/index.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("admission to the database", () => {
  it("admits up to its concurrency at once, then the others in the order they arrived, as places free up", async () => {
    const admission = new Admission({ concurrency: 2, queueTimeoutMs: 10_000 });
    const now = Date.now();
    const first = await admission.admit(now);
    const second = await admission.admit(now + 1);
    const order: number[] = [];
    // they ask in another order than they arrived: arrival decides
    const waiting = new Map([5, 3, 4].map((at) => [at, admission.admit(now + at).then((ticket) => (order.push(at), ticket))]));
    await tick();
    expect(order).toEqual([]);
    expect(admission.load).toEqual({ active: 2, waiting: 3 });
    first();
    first(); // idempotent: one place given back
    await tick();
    expect(order).toEqual([3]);
    second();
    await tick();
    expect(order).toEqual([3, 4]);
    (await waiting.get(3))?.();
    await tick();
    expect(order).toEqual([3, 4, 5]);
    (await waiting.get(4))?.();
    (await waiting.get(5))?.();
    expect(admission.load).toEqual({ active: 0, waiting: 0 });
  });

  it("refuses a decision that cannot be admitted within its wait, counted from its arrival, with a code that maps to RESOURCE_EXHAUSTED", async () => {
    const admission = new Admission({ concurrency: 1, queueTimeoutMs: 50 });
    const held = await admission.admit(Date.now());
    const started = Date.now();
    const refused = await admission.admit(Date.now()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OverloadedError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(mappingOf(refused)).toMatchObject({ grpc: 8, http: 503 });
    // says when to retry: once the queue has turned over, and up to half as much again (the gRPC edge's pushback)
    expect((refused as OverloadedError).retryAfterMs).toBeGreaterThanOrEqual(50);
    expect((refused as OverloadedError).retryAfterMs).toBeLessThanOrEqual(75);
    // arrived long ago: no time is left at all
    await expect(admission.admit(Date.now() - 1_000)).rejects.toBeInstanceOf(OverloadedError);
    expect(admission.load).toEqual({ active: 1, waiting: 0 });
    held();
    (await admission.admit(Date.now()))();
  });

  it("refuses in time for the caller's own deadline, and at once when too many already wait", async () => {
    const admission = new Admission({ concurrency: 1, queueTimeoutMs: 10_000, maxWaiting: 1 });
    const held = await admission.admit(Date.now());
    const started = Date.now();
    const waiting = admission.admit(Date.now(), Date.now() + 40);
    const tooMany = (await admission.admit(Date.now()).catch((error: unknown) => error)) as OverloadedError;
    expect(tooMany.message).toMatch(/already waiting/);
    expect(tooMany.retryAfterMs).toBeGreaterThanOrEqual(10_000);
    expect(tooMany.retryAfterMs).toBeLessThanOrEqual(15_000);
    await expect(waiting).rejects.toBeInstanceOf(OverloadedError);
    expect(Date.now() - started).toBeLessThan(1_000);
    held();
  });
});
