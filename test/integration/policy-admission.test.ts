// The policy pool admits a decision's evaluations together, all or none, under a
// bound of decisions and a bound of evaluations waiting; the evaluations that
// continue an admitted decision are never refused and go first. With a fixture
// policy compiled by the real opa, at the default bounds.
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
    const queued = Promise.all(all).then(() => finished.push("queued"));
    // The next step of a decision already admitted is never refused, and does not wait behind the queue.
    const continued = engine.decide(input, "continuing").then((decision) => {
      finished.push("continuing");
      return decision;
    });
    expect((await continued).effect).toBe("allow");
    await queued;
    expect(finished).toEqual(["continuing", "queued"]);
    expect((await Promise.all(all)).every((begun) => begun.decision?.effect === "allow")).toBe(true);

    // Drained: a decision is admitted again.
    expect((await engine.decide(input)).effect).toBe("allow");
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
