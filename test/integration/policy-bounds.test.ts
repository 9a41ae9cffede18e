// Each evaluation runs under a time and a memory bound: a policy that spins or
// hogs memory is a policy_error, the worker is replaced, and the next evaluation
// is served. Proven with a fixture policy compiled by the real opa, in WASM, and
// over gRPC.
import { MongoClient } from "mongodb";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { loadBundle, PolicyEngine, PolicyError, EvaluationError, type PolicyInput } from "../../src/policy/index.js";
import { buildTestBundle, fixturePolicy } from "../support/bundles.js";
import { mongoUri } from "../support/mongo.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

// Every policy worker this file starts is a real one, unless a test makes the next
// starts fail: "throw" as Node's constructor does when it cannot create the thread
// (EAGAIN), "error" as a worker that fails while it loads (out of memory), "hang" as
// one that never finishes loading (a thread starved while loading, a hung instantiation):
// it runs, and never says it is ready, fails or exits. Those are kept in `hung`.
const workerStarts = vi.hoisted(() => ({
  count: 0,
  failing: [] as ("throw" | "error" | "hang")[],
  hung: [] as import("node:worker_threads").Worker[],
}));
vi.mock("node:worker_threads", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:worker_threads")>();
  class Worker extends actual.Worker {
    constructor(source: string | URL, options?: import("node:worker_threads").WorkerOptions) {
      workerStarts.count += 1;
      const failure = workerStarts.failing.shift();
      if (failure === "throw") throw Object.assign(new Error("Worker initialization failure: EAGAIN"), { code: "ERR_WORKER_INIT_FAILED" });
      if (failure === "error") super('throw new Error("Worker terminated due to reaching memory limit: JS heap out of memory")', { ...options, eval: true });
      else if (failure === "hang") {
        super("setInterval(() => {}, 1 << 30)", { ...options, eval: true });
        workerStarts.hung.push(this);
      } else super(source, options);
    }
  }
  return { ...actual, Worker };
});

let bundlePath: string;

beforeAll(async () => {
  bundlePath = (await buildTestBundle(fixturePolicy("misbehaving-policy"))).path;
});

const input = (action: string, context: Record<string, number | string> = {}) => ({ action, context }) as unknown as PolicyInput;

async function failure(promise: Promise<unknown>): Promise<EvaluationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EvaluationError);
  return error as EvaluationError;
}

describe("evaluation bounds in the engine", () => {
  let engine: PolicyEngine;
  const lost: string[] = [];

  beforeAll(async () => {
    engine = await PolicyEngine.load(await loadBundle(bundlePath), {
      // a generous time bound so that the memory test fails on memory even on a busy machine
      bounds: { timeoutMs: 1_000, memoryMb: 32, workers: 1 },
      onWorkerLost: (why) => lost.push(why),
    });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it("stops an evaluation that runs past the time bound and reports a timeout", async () => {
    const error = await failure(engine.decide(input("spin")));
    expect(error.kind).toBe("timeout");
    expect(error.message).toContain("longer than 1000 ms");
    expect(lost).toEqual(["evaluating verdict/decision took longer than 1000 ms"]);
  });

  it("serves the next evaluation after a timeout, on a replacement worker", async () => {
    expect((await engine.decide(input("fast"))).effect).toBe("allow");
  });

  it("stops an evaluation that needs more memory than the bound and reports it as memory", async () => {
    const error = await failure(engine.decide(input("hog", { n: 5_000_000 })));
    expect(error.kind).toBe("memory");
  });

  it("serves the next evaluation after a memory failure", async () => {
    expect((await engine.decide(input("hog", { n: 100 }))).effect).toBe("allow");
    expect((await engine.decide(input("fast"))).effect).toBe("allow");
  });

  it("refuses a result that is not a decision and one that is undefined", async () => {
    await expect(engine.decide(input("malformed"))).rejects.toThrow(PolicyError);
    await expect(engine.decide(input("unknown_obligation"))).rejects.toThrow(/type must be reserve/);
    await expect(engine.decide(input("nothing"))).rejects.toThrow(/undefined for this input/);
  });

  it("fails only the runaway evaluation of a batch handed over together, and answers the others", async () => {
    lost.length = 0;
    // asked in one turn of the event loop: handed to the worker as one batch
    const outcomes = await Promise.allSettled([engine.decide(input("fast")), engine.decide(input("spin")), engine.decide(input("fast"))]);
    expect(outcomes.map((o) => (o.status === "fulfilled" ? o.value.effect : (o.reason as EvaluationError).kind))).toEqual(["allow", "timeout", "allow"]);
    expect(lost).toEqual(["evaluating verdict/decision took longer than 1000 ms"]);
  });

  it("evaluates an input too large for the shared hand-over (sent as a message) and returns an answer too large for it", async () => {
    const big = "x".repeat(300 * 1024);
    expect((await engine.decide(input("fast", { big }))).effect).toBe("allow");
    const [large, small] = await Promise.all([engine.decide(input("large", { n: 300 })), engine.decide(input("fast"))]);
    expect([large.effect, small.effect]).toEqual(["allow", "allow"]);
  });

  it("answers an input that has no JSON (a BigInt) with a policy error, and keeps serving", async () => {
    const error = await failure(engine.decide({ action: "fast", context: { n: 1n } } as unknown as PolicyInput));
    expect(error.kind).toBe("error");
    expect((await engine.decide(input("fast"))).effect).toBe("allow");
  });

  it("fails an input nested too deep to hand to the worker, alone in its batch, and keeps serving", async () => {
    let deep: unknown = 1;
    for (let level = 0; level < 100_000; level++) deep = [deep];
    // asked in one turn of the event loop: one batch, sent as a message (the deep input has no JSON)
    const outcomes = await Promise.allSettled([
      engine.decide(input("fast")),
      engine.decide({ action: "fast", context: { deep } } as unknown as PolicyInput),
      engine.decide(input("fast")),
    ]);
    expect(outcomes.map((o) => (o.status === "fulfilled" ? o.value.effect : (o.reason as EvaluationError).kind))).toEqual(["allow", "error", "allow"]);
    expect(outcomes[1]).toMatchObject({ status: "rejected", reason: { message: expect.stringContaining("cannot be handed to the policy worker") as unknown } });
    expect((await engine.decide(input("fast"))).effect).toBe("allow");
  });

  it("answers what waits when its last worker is lost while it closes, and closes (a playground evaluation during a reload)", async () => {
    const closing = await PolicyEngine.load(await loadBundle(bundlePath), { bounds: { timeoutMs: 1_000, workers: 1 } });
    const spin = closing.decide(input("spin"));
    const fast = closing.decide(input("fast"));
    const closed = closing.close();
    expect((await failure(spin)).kind).toBe("timeout");
    // the worker was lost with the spin, and no replacement starts while closing: the evaluation behind it is refused
    const after = await Promise.race([
      fast.then(
        (d) => d.effect,
        (e: unknown) => (e as Error).message,
      ),
      new Promise((resolve) => setTimeout(() => resolve("still waiting"), 2_000)),
    ]);
    expect(["allow", "the policy engine is closed"]).toContain(after);
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("close() did not end")), 2_000))]);
  });

  it("queues evaluations beyond its workers and answers them all", async () => {
    const decisions = await Promise.all(Array.from({ length: 50 }, () => engine.decide(input("fast"))));
    expect(decisions.every((d) => d.effect === "allow")).toBe(true);
  });
});

describe("a policy worker that does not start", () => {
  afterEach(async () => {
    workerStarts.failing.length = 0;
    // a hung worker the pool did not end would keep a thread spinning for the rest of the file
    await Promise.all(workerStarts.hung.splice(0).map((worker) => worker.terminate()));
  });

  it("refuses decisions at once while no worker runs, starts one again in the background, and serves without a new bundle", async () => {
    const lost: string[] = [];
    const engine = await PolicyEngine.load(await loadBundle(bundlePath), { onWorkerLost: (why) => lost.push(why) });
    try {
      const started = workerStarts.count;
      // the replacement of the worker lost to the spin cannot create its thread, the next start fails while loading
      workerStarts.failing.push("throw", "error");
      expect((await failure(engine.decide(input("spin")))).kind).toBe("timeout");
      const asked = performance.now();
      const refused = await failure(engine.decide(input("fast")));
      expect(refused.message).toContain("no policy worker is running");
      expect(performance.now() - asked).toBeLessThan(1_000); // not after the queue's bound (5 s)
      await vi.waitFor(async () => expect((await engine.decide(input("fast"))).effect).toBe("allow"), { timeout: 10_000, interval: 200 });
      expect(workerStarts.count - started).toBe(3);
      expect(lost).toEqual([
        "evaluating verdict/decision took longer than 250 ms",
        expect.stringMatching(/^a replacement worker did not start: .*EAGAIN; trying again in 1 s$/),
        expect.stringMatching(/^a replacement worker did not start: .*memory limit.*; trying again in 2 s$/),
      ]);
    } finally {
      await engine.close();
    }
  });

  it("ends a worker that does not load within the bound: a first start fails, and a replacement is started again and serves without a new bundle", async () => {
    const lost: string[] = [];
    const engine = await PolicyEngine.load(await loadBundle(bundlePath), { onWorkerLost: (why) => lost.push(why) });
    try {
      const started = workerStarts.count;
      // Both bounds run at once (one wait of the bound, not two): a new engine's first worker hangs while loading ...
      workerStarts.failing.push("hang");
      const loading = PolicyEngine.load(await loadBundle(bundlePath));
      const loadOutcome = loading.then(
        (other) => other.close().then(() => "loaded"),
        (error: unknown) => (error as Error).message,
      );
      await vi.waitFor(() => expect(workerStarts.hung).toHaveLength(1), { timeout: 5_000, interval: 20 });
      // ... and so does the replacement of the worker this engine loses to the spin
      workerStarts.failing.push("hang");
      expect((await failure(engine.decide(input("spin")))).kind).toBe("timeout");
      expect(workerStarts.hung).toHaveLength(2);
      const hungAt = performance.now();
      const ended = workerStarts.hung.map((worker) => new Promise((resolve) => worker.once("exit", resolve)));

      expect(await loadOutcome).toMatch(/ does not load: the policy worker did not load within 30 s$/);
      await Promise.all(ended); // terminated by the pool, not left running
      expect(performance.now() - hungAt).toBeGreaterThan(25_000); // the production bound, not a test's

      await vi.waitFor(async () => expect((await engine.decide(input("fast"))).effect).toBe("allow"), { timeout: 15_000, interval: 200 });
      expect(workerStarts.count - started).toBe(3); // the hung first start, the hung replacement, the one that serves
      expect(lost).toEqual([
        "evaluating verdict/decision took longer than 250 ms",
        expect.stringMatching(/^a replacement worker did not start: the policy worker did not load within 30 s; trying again in 1 s$/),
      ]);
    } finally {
      await engine.close();
    }
  }, 60_000);

  it("ends a worker still loading when it closes, and reports no failed start", async () => {
    const lost: string[] = [];
    const engine = await PolicyEngine.load(await loadBundle(bundlePath), { onWorkerLost: (why) => lost.push(why) });
    workerStarts.failing.push("hang");
    expect((await failure(engine.decide(input("spin")))).kind).toBe("timeout");
    expect(workerStarts.hung).toHaveLength(1);
    const ended = new Promise((resolve) => workerStarts.hung[0]?.once("exit", resolve));
    await Promise.race([engine.close(), new Promise((_, reject) => setTimeout(() => reject(new Error("close() did not end")), 2_000))]);
    await Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error("the loading worker was not ended")), 2_000))]);
    expect(lost).toEqual(["evaluating verdict/decision took longer than 250 ms"]);
  });

  it("stops trying to start a worker once closed", async () => {
    const lost: string[] = [];
    const engine = await PolicyEngine.load(await loadBundle(bundlePath), { onWorkerLost: (why) => lost.push(why) });
    const started = workerStarts.count;
    workerStarts.failing.push("throw", "throw", "throw", "throw", "throw");
    expect((await failure(engine.decide(input("spin")))).kind).toBe("timeout");
    await vi.waitFor(() => expect(workerStarts.count - started).toBe(2), { timeout: 5_000, interval: 50 }); // the replacement, then a try 1 s later
    await engine.close();
    const attempts = workerStarts.count;
    const reported = lost.length;
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // past the next try (2 s after the last)
    expect(workerStarts.count).toBe(attempts);
    expect(lost).toHaveLength(reported);
    expect((await failure(engine.decide(input("fast")))).message).toContain("closed");
  });
});

describe("evaluation bounds over gRPC", () => {
  let t: TestVerdict;

  beforeAll(async () => {
    t = await startTestVerdict({ config: { bundle: bundlePath, policy_timeout_ms: 1_000, policy_memory_mb: 32, policy_workers: 1 } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** Waits for the decision's audit record to carry this policy_error. */
  const expectRecordedPolicyError = async (decisionId: string, expected: Record<string, unknown>) => {
    const records = new MongoClient(mongoUri()).db(t.database).collection<{ _id: string; policy_error?: unknown }>("decisions");
    await vi.waitFor(async () => expect((await records.findOne({ _id: decisionId }))?.policy_error).toEqual(expected), { timeout: 10_000 });
  };

  it("answers DENY policy_error for a policy that spins, then keeps serving", async () => {
    const token = await t.issuer.token();
    const spin = await t.client.check({ token, action: "spin" });
    expect(spin.decision).toBe("DENY");
    expect(spin.reasons.map((r) => r.code)).toEqual(["policy_error"]);
    expect(spin.policy_revision).toBe(t.verdict.policyRevision);
    const fast = await t.client.check({ token, action: "fast" });
    expect(fast.decision).toBe("ALLOW");
  });

  it("answers DENY policy_error for a policy that exhausts its memory, then keeps serving", async () => {
    const token = await t.issuer.token();
    const hog = await t.client.check({ token, action: "hog", context: { n: 5_000_000 } });
    expect(hog.decision).toBe("DENY");
    expect(hog.reasons.map((r) => r.code)).toEqual(["policy_error"]);
    expect((await t.client.check({ token, action: "fast" })).decision).toBe("ALLOW");
  });

  it("answers DENY policy_error, never ALLOW, for a malformed policy result", async () => {
    const token = await t.issuer.token();
    const response = await t.client.check({ token, action: "malformed" });
    expect(response.decision).toBe("DENY");
    expect(response.reasons.map((r) => r.code)).toEqual(["policy_error"]);
  });

  it("says in --explain and in the audit record which rule's output did not fit, and why", async () => {
    const token = await t.issuer.token();
    const response = await t.client.check({ token, action: "windowless", explain: true });
    expect(response.decision).toBe("DENY");
    expect(response.reasons.map((r) => r.code)).toEqual(["policy_error"]);
    const hit = { kind: "policy_error", rule: "export.daily_per_user", code: "invalid_output" };
    expect(response.explanation?.rules).toEqual([expect.objectContaining(hit)]);
    expect(response.explanation?.rules[0]?.message).toMatch(
      /^rule export\.daily_per_user: decision\.obligations\[0\]\.window must be minute, hour, day or sliding/,
    );
    await expectRecordedPolicyError(response.decision_id, {
      rule: "export.daily_per_user",
      kind: "invalid_output",
      message: expect.stringContaining("window must be minute"),
    });
  });

  it("says where an evaluation timed out: the entry point, in --explain and the audit record", async () => {
    const token = await t.issuer.token();
    const spin = await t.client.check({ token, action: "spin", explain: true });
    expect(spin.reasons.map((r) => r.code)).toEqual(["policy_error"]);
    expect(spin.explanation?.rules).toEqual([
      { kind: "policy_error", rule: "verdict/decision", code: "timeout", message: "evaluating verdict/decision took longer than 1000 ms" },
    ]);
    await expectRecordedPolicyError(spin.decision_id, {
      rule: "verdict/decision",
      kind: "timeout",
      message: "evaluating verdict/decision took longer than 1000 ms",
    });
  });

  it("counts each failure by reason in the metrics", async () => {
    const text = await t.verdict.metrics.registry.metrics();
    expect(text).toMatch(/verdict_policy_evaluation_failures_total\{bundle="active",reason="timeout"\} 2/);
    expect(text).toMatch(/verdict_policy_evaluation_failures_total\{bundle="active",reason="memory"\} 1/);
    expect(text).toMatch(/verdict_policy_evaluation_failures_total\{bundle="active",reason="invalid_output"\} 2/);
  });
});
