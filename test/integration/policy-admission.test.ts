// The policy pool admits a decision's evaluations together, all or none, under a
// bound of decisions and a bound of evaluations waiting, and refuses them together
// when none has started by the queue's bound in time or the caller's deadline; the
// evaluations that continue an admitted decision are never refused and go first.
// With a fixture policy compiled by the real opa, at the default bounds (the bound
// in time set only where it is the setting under test).
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EvaluationOverloadedError, loadBundle, PolicyEngine, type PolicyInput } from "../../src/policy/index.js";
import { buildFixtureBundle } from "../support/bundles.js";

const input = { action: "slow" } as unknown as PolicyInput;

let bundlePath: string;
beforeAll(async () => {
  bundlePath = await buildFixtureBundle("slow-policy");
});

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe("admission to the policy pool at the default bounds", () => {
  let engine: PolicyEngine;
  beforeAll(async () => {
    engine = await PolicyEngine.load(await loadBundle(bundlePath));
  });
  afterAll(async () => {
    await engine?.close();
  });

  it("takes 1,024 decisions at a time, counting a batch once, and refuses the next", async () => {
    expect(engine.bounds.maxQueue).toBe(1_024);
    const admitted = Array.from({ length: 1_024 }, (_, i) => engine.beginAll(Array(i % 2 === 0 ? 1 : 3).fill(input))).flat();
    expect(() => engine.beginAll([input])).toThrow(EvaluationOverloadedError);
    const refused = await refusal(engine.decide(input));
    expect(refused).toBeInstanceOf(EvaluationOverloadedError);
    // Retry once the queue has turned over: its bound in time, and up to half as much again (the gRPC edge's pushback).
    expect((refused as EvaluationOverloadedError).retryAfterMs).toBeGreaterThanOrEqual(5_000);
    expect((refused as EvaluationOverloadedError).retryAfterMs).toBeLessThanOrEqual(7_500);
    expect((refused as EvaluationOverloadedError).code).toBe("overloaded");
    expect((await Promise.all(admitted)).every((begun) => begun.decision?.effect === "allow")).toBe(true);
    expect((await engine.decide(input)).effect).toBe("allow");
  });

  it("refuses a decision whose evaluations do not fit whole, lets an admitted one continue first, and serves again once drained", async () => {
    expect(engine.bounds.maxQueuedEvaluations).toBe(8_192);
    // Batches of 100 until one does not fit: refused as a whole, synchronously, nothing queued.
    const all: ReturnType<PolicyEngine["beginAll"]> = [];
    for (;;) {
      try {
        all.push(...engine.beginAll(Array(100).fill(input)));
      } catch (error) {
        expect(error).toBeInstanceOf(EvaluationOverloadedError);
        break;
      }
    }
    // At most 8,192 waiting, and 32 taken off the queue by each of two workers.
    expect(all.length).toBeGreaterThan(8_192 - 100);
    expect(all.length).toBeLessThanOrEqual(8_192 + 64);
    // Decisions of one evaluation still fit, up to the bound, and not one past it.
    for (;;) {
      try {
        all.push(...engine.beginAll([input]));
      } catch (error) {
        expect(error).toBeInstanceOf(EvaluationOverloadedError);
        break;
      }
      expect(all.length).toBeLessThanOrEqual(8_192 + 64);
    }
    expect(await refusal(engine.decide(input))).toBeInstanceOf(EvaluationOverloadedError);

    const finished: string[] = [];
    // Each waiting decision is evaluated, or, on a machine too slow to start it within the queue's bound in time
    // (5 s; this is about 1.5 s of work here), refused whole as overloaded for having waited.
    const settled = Promise.allSettled(all);
    const queued = settled.then(() => finished.push("queued"));
    // The next step of a decision already admitted is never refused, and does not wait behind the queue.
    const continued = engine.decide(input, "continuing").then((decision) => {
      finished.push("continuing");
      return decision;
    });
    expect((await continued).effect).toBe("allow");
    await queued;
    expect(finished).toEqual(["continuing", "queued"]);
    const outcomes = await settled;
    for (const outcome of outcomes)
      if (outcome.status === "fulfilled") expect(outcome.value.decision?.effect).toBe("allow");
      else expect((outcome.reason as Error).message).toMatch(/^it waited \d+ ms for policy evaluation \(the bound is 5000 ms\)$/);
    // The first ones started at once.
    expect(outcomes.slice(0, 64).map((outcome) => outcome.status)).toEqual(Array(64).fill("fulfilled"));

    // Drained: a decision is admitted again.
    expect((await engine.decide(input)).effect).toBe("allow");
  });
});

describe("the queue's bound in time", () => {
  let engine: PolicyEngine;
  beforeAll(async () => {
    engine = await PolicyEngine.load(await loadBundle(bundlePath));
  });
  afterAll(async () => {
    await engine?.close();
  });

  /** About a second of work or more ahead of the next decision: 4,000 evaluations of the slow policy. */
  function queueWork(): ReturnType<PolicyEngine["beginAll"]> {
    return Array.from({ length: 40 }, () => engine.beginAll(Array(100).fill(input))).flat();
  }

  it("refuses, whole and before the work ahead of it, a decision none of whose evaluations starts by its caller's deadline", async () => {
    expect(engine.bounds.queueTimeoutMs).toBe(5_000);
    const ahead = queueWork();
    let aheadDone = false;
    const done = Promise.all(ahead).then(() => (aheadDone = true));
    const sent = performance.now();
    const outcomes = await Promise.allSettled(engine.beginAll(Array(5).fill(input), Date.now() + 100));
    const waited = performance.now() - sent;
    expect(aheadDone).toBe(false);
    expect(waited).toBeGreaterThanOrEqual(95);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(5).fill("rejected"));
    for (const outcome of outcomes) {
      const reason = (outcome as PromiseRejectedResult).reason as EvaluationOverloadedError;
      expect(reason).toBeInstanceOf(EvaluationOverloadedError);
      expect(reason.message).toMatch(/^its caller's deadline passed after \d+ ms waiting for policy evaluation$/);
    }
    await done;
    expect((await Promise.all(ahead)).every((begun) => begun.decision?.effect === "allow")).toBe(true);
  });

  it("never refuses a decision once one of its evaluations has started, even past its caller's deadline", async () => {
    // 100 evaluations: the first go to the idle workers at once, the rest follow after the 10 ms deadline has passed.
    const begun = await Promise.all(engine.beginAll(Array(100).fill(input), Date.now() + 10));
    expect(begun.every((one) => one.decision?.effect === "allow")).toBe(true);
  });

  it("refuses a decision that waited policy_queue_timeout_ms, whole", async () => {
    const bounded = await PolicyEngine.load(await loadBundle(bundlePath), { bounds: { queueTimeoutMs: 200 } });
    try {
      // Work ahead that is never refused and goes first: 4,000 evaluations continuing decisions already
      // admitted (about a second of work or more). New decisions as work ahead would themselves be refused
      // at the bound, a little before the one under test, which could then start in time on a slow machine.
      const ahead = Array.from({ length: 4_000 }, () => bounded.decide(input, "continuing"));
      const outcomes = await Promise.allSettled(bounded.beginAll(Array(3).fill(input)));
      expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(3).fill("rejected"));
      for (const outcome of outcomes) {
        expect(((outcome as PromiseRejectedResult).reason as Error).message).toMatch(/^it waited (\d+) ms for policy evaluation \(the bound is 200 ms\)$/);
        const reason = (outcome as PromiseRejectedResult).reason as EvaluationOverloadedError;
        expect(reason.code).toBe("overloaded");
        expect(reason.retryAfterMs).toBeGreaterThanOrEqual(200);
        expect(reason.retryAfterMs).toBeLessThanOrEqual(300);
      }
      const waited = Number(/waited (\d+) ms/.exec(((outcomes[0] as PromiseRejectedResult).reason as Error).message)?.[1]);
      expect(waited).toBeGreaterThanOrEqual(200);
      // What was ahead is all evaluated.
      expect((await Promise.all(ahead)).every((decision) => decision.effect === "allow")).toBe(true);
    } finally {
      await bounded.close();
    }
  });
});

describe("the evaluation time bound when the main thread is late", () => {
  let engine: PolicyEngine;
  beforeAll(async () => {
    engine = await PolicyEngine.load(await loadBundle(bundlePath));
  });
  afterAll(async () => {
    await engine?.close();
  });

  it("does not take a finished evaluation whose reply waits for a busy main thread for one past the bound", async () => {
    for (let round = 0; round < 3; round++) {
      const decision = engine.decide(input);
      // The main thread busy for twice the 250 ms bound (in a later phase of the event loop, so that the
      // pool's timer comes due before the reply is read): the worker finishes meanwhile, its reply waits.
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          const until = performance.now() + 2 * engine.bounds.timeoutMs;
          while (performance.now() < until);
          resolve();
        }),
      );
      expect((await decision).effect).toBe("allow");
    }
  });
});
