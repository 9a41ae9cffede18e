// The pipeline with real parts (the compiled fixture policy, MongoDB over the
// wire, real tokens), counting the database commands a decision costs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { randomUUID } from "node:crypto";
import type { ApprovalOutcome, Caller, Challenge, DeciderDeps, StatePorts } from "../../src/decide/index.js";
import { Decider } from "../../src/decide/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { loadBundle, PolicyEngine } from "../../src/policy/index.js";
import { IssuerRegistry, TokenVerifier } from "../../src/token/index.js";
import { buildFixtureBundle } from "../support/bundles.js";
import { createTestIssuer, issuerConfig, TEST_AUDIENCE, type TestIssuer } from "../support/issuer.js";
import { openTestState, type TestState } from "../support/state.js";

let store: TestState;
let decider: Decider;
let engine: PolicyEngine;
let issuer: TestIssuer;
const commands: string[] = [];
const caller: Caller = { name: "invoices-api", audience: TEST_AUDIENCE, scopes: new Set(["invoices:read"]), unknownScopes: "deny" };
const common = (token: string) => ({ caller, token, requestId: "r-1", dryRun: false });
const item = (action: string, context = {}) => ({ action, resource: { type: "invoice", id: "i-1", attributes: {} }, context });

beforeAll(async () => {
  issuer = await createTestIssuer();
  store = await openTestState({ name: "decider", onCommand: (name) => commands.push(name) });
  engine = await PolicyEngine.load(await loadBundle(await buildFixtureBundle("state-policy")));
  decider = deciderWith(store);
});

function deciderDeps(state: StatePorts): DeciderDeps {
  return {
    verifier: new TokenVerifier(IssuerRegistry.fromConfig([issuerConfig(issuer)]), { clockSkewSeconds: 60, maxBytes: 8192 }),
    policies: { current: () => engine },
    state,
    dpop: { maxAgeSeconds: 120, skewSeconds: 60, maxBytes: 8192 },
    log: silentLogger(),
  };
}
const deciderWith = (state: StatePorts): Decider => new Decider(deciderDeps(state));
afterAll(async () => {
  await store.close();
});

describe("what a decision costs the database", () => {
  it("nothing, when the policy needs no state and asks for no obligation", async () => {
    commands.length = 0;
    const result = await decider.check({ ...common(await issuer.token()), ...item("read") });
    expect(result.decision).toBe("ALLOW");
    expect(commands).toEqual([]);
  });

  it("one read for the state of every item of a batch", async () => {
    const token = await issuer.token({ sub: "batch-reader" });
    commands.length = 0;
    const results = await decider.checkBatch({
      ...common(token),
      items: Array.from({ length: 5 }, () => ({ ok: true as const, item: item("transfer_checked", { amount: 1 }) })),
    });
    expect(results.every((r) => r.ok && r.result.decision === "ALLOW")).toBe(true);
    expect(commands).toEqual(["find"]);
  });

  it("one conditional update for an allowed reservation, which also records who holds it", async () => {
    commands.length = 0;
    const result = await decider.check({ ...common(await issuer.token({ sub: "payer" })), ...item("transfer", { amount: 10 }) });
    expect(result.decision).toBe("ALLOW");
    expect(commands).toEqual(["findAndModify"]);
  });
});

describe("an audit trail that refuses the record after the decision applied its obligations", () => {
  it("answers DENY audit_unavailable and gives back what the allow reserved", async () => {
    const refusing = new Decider({ ...deciderDeps(store), audit: { ready: () => true, record: () => false } });
    const token = await issuer.token({ sub: `payer-${randomUUID()}` });
    const result = await refusing.check({ ...common(token), ...item("transfer", { amount: 900 }) });
    expect(result).toMatchObject({ decision: "DENY", reasons: [{ code: "audit_unavailable" }] });
    // the daily limit is 1000: the 900 comes back, in the background
    await expect
      .poll(async () => (await decider.check({ ...common(token), ...item("transfer", { amount: 1000 }) })).decision, { timeout: 2_000 })
      .toBe("ALLOW");
  });
});

/** The state's counters, whose second reservation fails with an error that is no state failure. */
function secondReserveFails(): StatePorts["counters"] {
  let reserves = 0;
  return new Proxy(store.counters, {
    get(target, property) {
      if (property === "reserve") {
        return (...args: Parameters<typeof target.reserve>) => {
          reserves += 1;
          return reserves === 2 ? Promise.reject(new Error("not a state failure")) : target.reserve(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe("a batch whose call fails after an earlier item's allow applied", () => {
  it("gives back what that allow reserved: nobody will learn its decision id to release it", async () => {
    // the second item's reservation fails in a way that is no denial (a bug): the call ends INTERNAL
    const counters = secondReserveFails();
    const failing = deciderWith({ ...store, counters });
    const token = await issuer.token({ sub: `payer-${randomUUID()}` });
    await expect(
      failing.checkBatch({ ...common(token), items: [900, 10].map((amount) => ({ ok: true as const, item: item("transfer", { amount }) })) }),
    ).rejects.toThrow(/not a state failure/);
    // the daily limit is 1000: the first item's 900 comes back, in the background
    await expect
      .poll(async () => (await decider.check({ ...common(token), ...item("transfer", { amount: 1000 }) })).decision, { timeout: 2_000 })
      .toBe("ALLOW");
  });
});

describe("an allow that used a person's approval and whose caller is not answered with it", () => {
  /** A gate that answers "used" and records what is given back: the approvals module's own give-back is tested in approvals.test.ts. */
  function usingGate(givenBack: string[]) {
    return {
      settle: () => Promise.resolve({ kind: "used" as const, approvalId: "a-1", giveBack: () => Promise.resolve() }),
      giveBackUse: (approvalId: string, _decisionId: string, api: string) => {
        givenBack.push(`${approvalId} ${api}`);
        return Promise.resolve();
      },
    };
  }
  const approved = () => ({ ...item("approved_with_brake", { brake: randomUUID() }), approvalId: "a-1" });

  it("gives the approval back when its batch's call fails after it", async () => {
    // the first is the approved item's brake; the second item's reservation fails in a way that is no denial
    const counters = secondReserveFails();
    const givenBack: string[] = [];
    const failing = new Decider({ ...deciderDeps({ ...store, counters }), approvals: usingGate(givenBack) });
    await expect(
      failing.checkBatch({
        ...common(await issuer.token({ sub: `payer-${randomUUID()}` })),
        items: [approved(), item("transfer", { amount: 10 })].map((one) => ({ ok: true as const, item: one })),
      }),
    ).rejects.toThrow(/not a state failure/);
    expect(givenBack).toEqual(["a-1 invoices-api"]);
  });

  it("gives the approval back when the audit trail refuses its record", async () => {
    const givenBack: string[] = [];
    const refusing = new Decider({ ...deciderDeps(store), audit: { ready: () => true, record: () => false }, approvals: usingGate(givenBack) });
    const result = await refusing.check({ ...common(await issuer.token()), ...approved() });
    expect(result).toMatchObject({ decision: "DENY", reasons: [{ code: "audit_unavailable" }] });
    expect(givenBack).toEqual(["a-1 invoices-api"]);
  });
});

describe("a decision that waited past its window's end", () => {
  it("counts its obligations in the window it is applied in, not the one it arrived in", async () => {
    // The UTC day ends 100 ms after the call arrives; its turn at the database comes 500 ms into the next day.
    const dayEnd = Math.ceil((Date.now() + 1) / 86_400_000) * 86_400_000;
    let clock = dayEnd - 100;
    let late = false;
    const admission: StatePorts["admission"] = {
      admit: async (arrivedAt, answerBy) => {
        const ticket = await store.admission.admit(arrivedAt, answerBy);
        if (late) clock = dayEnd + 500;
        return ticket;
      },
    };
    const waiting = new Decider({ ...deciderDeps({ ...store, admission }), now: () => clock });
    const subject = `payer-${randomUUID()}`;
    const token = await issuer.token({ sub: subject, iat: Math.floor(clock / 1000) - 60, exp: Math.floor(clock / 1000) + 600 });
    const daily = (at: number) =>
      store.counters.read([[{ name: "t", type: "counter", key: ["transfer", "daily", subject], window: { kind: "calendar", unit: "day" } }]], at);
    // the ending day's limit (1000) spent
    expect((await waiting.check({ ...common(token), ...item("transfer", { amount: 1000 }) })).decision).toBe("ALLOW");
    late = true;
    // applied in the new day: counted there (the ending day's counter, full, may already be gone)
    expect((await waiting.check({ ...common(token), ...item("transfer", { amount: 900 }) })).decision).toBe("ALLOW");
    expect(await daily(dayEnd - 100)).toEqual([{ t: 1000 }]);
    expect(await daily(dayEnd + 500)).toEqual([{ t: 900 }]);
  });
});

describe("a step-up a person's approval answers", () => {
  /** A gate whose answer the test sets: the approvals module's own behaviour is tested in approvals.test.ts. */
  function gated(outcome: ApprovalOutcome): Decider {
    return new Decider({ ...deciderDeps(store), approvals: { settle: () => Promise.resolve(outcome) } });
  }
  const brakeCount = async (brake: string) =>
    (await store.counters.read([[{ name: "n", type: "counter", key: ["brake", brake], window: { kind: "sliding", seconds: 60 } }]], Date.now()))[0];

  it("counts its brake once when the approval is used, as when it is still awaited", async () => {
    const used = randomUUID();
    const allowed = await gated({ kind: "used", approvalId: "a-1", giveBack: () => Promise.resolve() }).check({
      ...common(await issuer.token()),
      ...item("approved_with_brake", { brake: used }),
    });
    expect(allowed.decision).toBe("ALLOW");
    expect(await brakeCount(used)).toEqual({ n: 1 });

    const awaited = randomUUID();
    const challenge: Challenge = { error: "approval_required", scopes: [], acr_values: [], description: "needs the user's yes", approval_id: "a-2" };
    const asked = await gated({ kind: "challenge", challenge }).check({
      ...common(await issuer.token()),
      ...item("approved_with_brake", { brake: awaited }),
    });
    expect(asked.decision).toBe("STEP_UP");
    expect(await brakeCount(awaited)).toEqual({ n: 1 });
  });
});

describe("a caller's deadline", () => {
  const late = /its caller's deadline passed before its state was read or applied; nothing was applied/;
  /** Admission that grants a decision its turn at the database 1 s late (the process was busy). */
  const admittedLate: StatePorts["admission"] = {
    admit: async (arrivedAt, answerBy) => {
      const ticket = await store.admission.admit(arrivedAt, answerBy);
      await sleep(1_000);
      return ticket;
    },
  };

  /** The state's counters, the first reservation answering `ms` late; `delayed()` says whether it came. */
  function firstReserveLate(ms: number) {
    let delayed = false;
    const counters = new Proxy(store.counters, {
      get(target, property) {
        if (property === "reserve") {
          return async (...args: Parameters<typeof target.reserve>) => {
            if (!delayed) {
              delayed = true;
              await sleep(ms);
            }
            return target.reserve(...args);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    return { counters, delayed: () => delayed };
  }

  it("reads and applies nothing once its caller's deadline has passed", async () => {
    // Its turn at the database comes 1 s after the admission grants it (the process was busy), past the caller's deadline.
    const busy = deciderWith({ ...store, admission: admittedLate });
    const token = await issuer.token({ sub: "late-payer" });
    commands.length = 0;
    for (const action of ["transfer", "transfer_checked"]) {
      await expect(busy.check({ ...common(token), answerBy: Date.now() + 500, ...item(action, { amount: 10 }) })).rejects.toThrow(late);
    }
    expect(commands).toEqual([]);
    // nothing was reserved: the whole daily limit (1000) is still there
    expect((await decider.check({ ...common(token), ...item("transfer", { amount: 1000 }) })).decision).toBe("ALLOW");
  });

  it("neither asks for nor uses a person's approval once its caller's deadline has passed", async () => {
    let settled = 0;
    const late = new Decider({
      ...deciderDeps(store),
      state: { ...store, admission: admittedLate },
      approvals: {
        settle: () => {
          settled += 1;
          return Promise.resolve({ kind: "used", approvalId: "a-late", giveBack: () => Promise.resolve() });
        },
      },
    });
    const brake = randomUUID();
    await expect(late.check({ ...common(await issuer.token()), answerBy: Date.now() + 500, ...item("approved_with_brake", { brake }) })).rejects.toThrow(
      /its caller's deadline passed before its state was read or applied; nothing was applied/,
    );
    expect(settled).toBe(0);
    expect(
      (await store.counters.read([[{ name: "n", type: "counter", key: ["brake", brake], window: { kind: "sliding", seconds: 60 } }]], Date.now()))[0],
    ).toEqual({ n: 0 });
  });

  it("lets no later item of a batch past its caller's deadline after a denial's brake was counted", async () => {
    // The brake's count (the first reservation) answers after the caller has stopped waiting.
    const { counters, delayed } = firstReserveLate(1_500);
    const slow = deciderWith({ ...store, counters });
    const token = await issuer.token({ sub: `late-brake-${randomUUID()}` });
    await expect(
      slow.checkBatch({
        ...common(token),
        answerBy: Date.now() + 1_000,
        items: [
          { ok: true as const, item: item("denied_with_brake", { brake: randomUUID() }) },
          { ok: true as const, item: item("transfer", { amount: 1000 }) },
        ],
      }),
    ).rejects.toThrow(late);
    expect(delayed()).toBe(true);
    // the transfer reserved nothing: the whole daily limit (1000) is still there
    expect((await decider.check({ ...common(token), ...item("transfer", { amount: 1000 }) })).decision).toBe("ALLOW");
  });

  it("finishes a batch that has begun applying, past its caller's deadline: never half-applied", async () => {
    // The first reservation answers after the caller has stopped waiting.
    const { counters, delayed } = firstReserveLate(1_500);
    const slow = deciderWith({ ...store, counters });
    const token = await issuer.token({ sub: "late-batch" });
    commands.length = 0;
    const results = await slow.checkBatch({
      ...common(token),
      answerBy: Date.now() + 1_000,
      items: [1, 2].map(() => ({ ok: true as const, item: item("transfer", { amount: 10 }) })),
    });
    expect(delayed()).toBe(true);
    expect(results.map((r) => r.ok && r.result.decision)).toEqual(["ALLOW", "ALLOW"]);
    expect(commands).toEqual(["findAndModify", "findAndModify"]);
  });
});
