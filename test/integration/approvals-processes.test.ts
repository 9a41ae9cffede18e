// Approvals kept by several Verdict processes sharing one database (docs/approvals.md):
// each process its own Approvals stage over its own connection to the real local
// database, as `verdict serve` runs them. The same request asked at once on two
// processes is kept, and its person asked, once; an approval's expiry is judged on the
// database's clock, whatever a process's own clock says.
import { randomUUID } from "node:crypto";
import type { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Approvals, APPROVALS, ApprovalStore, type ApprovalsOptions, type ApprovalView, type ApprovalWebhook } from "../../src/approvals/index.js";
import type { AuditEvent } from "../../src/audit/index.js";
import { Database } from "../../src/database/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { DEFAULT_STATE_TIMEOUT_MS, StateCalls, StateUnavailableError } from "../../src/state/index.js";
import { holdLoopAfter } from "../support/busy.js";
import type { ApprovalRequest, ApprovalOutcome, Caller } from "../../src/decide/index.js";
import type { Principal, TokenVerifier } from "../../src/token/index.js";
import { captureLog } from "../support/log.js";
import { connectTestClient, mongoUri, uniqueDatabaseName } from "../support/mongo.js";

const ISSUER = "https://issuer.test.example";
const name = uniqueDatabaseName("approvals_processes");
const logged = captureLog();
const caller: Caller = { name: "invoices-api", audience: "https://invoices.example", scopes: new Set(["payments:write"]), unknownScopes: "deny" };

interface Process {
  database: Database;
  approvals: Approvals;
  /** The stage as this process would start it now (it reads the clock as it is then, Date.now included). */
  restarted(): Approvals;
  /** What this process announced to the webhook. */
  told: ApprovalView[];
  events: AuditEvent[];
}

/** The person deciding: their own client, a fresh MFA (the token itself is the test's stand-in). */
let decider: Principal;
const processes: Process[] = [];
let mongo: MongoClient;

function principal(subject: string, claims: Partial<Principal> = {}): Principal {
  const nowS = Math.floor(Date.now() / 1000);
  return {
    subject,
    clientId: "agent-7",
    clientType: "ai-agent",
    actors: [],
    delegationDepth: 0,
    scopes: ["payments:write"],
    issuer: ISSUER,
    expiresAt: nowS + 3600,
    issuedAt: nowS - 180,
    audience: [caller.audience],
    ...claims,
  };
}

async function startProcess(): Promise<Process> {
  const database = Database.open({ uri: mongoUri(), database: name, log: logged.log, poolSize: 4 });
  const told: ApprovalView[] = [];
  const events: AuditEvent[] = [];
  const verifier = { verify: () => Promise.resolve({ principal: decider }) } as unknown as TokenVerifier;
  const options: ApprovalsOptions = {
    store: new ApprovalStore(database, new StateCalls(DEFAULT_STATE_TIMEOUT_MS, silentLogger())),
    verifier,
    apis: () => ({ audience: caller.audience, scopes: caller.scopes, unknownScopes: caller.unknownScopes }),
    humanClientTypes: ["web"],
    maxPendingPerAgent: 10,
    url: () => "https://verdict.test.example/approvals/{id}",
    events: { recordEvent: (event) => events.push(event) > 0 },
    webhook: { notify: (view: ApprovalView) => told.push(view) } as unknown as ApprovalWebhook,
    log: logged.log,
  };
  database.connectInBackground();
  await database.whenReached();
  expect(await database.prepare(10_000)).toBe(true);
  return { database, approvals: new Approvals(options), restarted: () => new Approvals(options), told, events };
}

beforeAll(async () => {
  processes.push(await startProcess(), await startProcess());
  mongo = await connectTestClient();
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.database.close()));
  await mongo?.close();
});

const stored = () => mongo.db(name).collection(APPROVALS.name);

/** The agent's transfer for `subject`, asked (no approval named) or retried naming one; nowMs on this process's clock. */
function transfer(subject: string, account: string, more: Partial<ApprovalRequest> & { approvalId?: string } = {}): ApprovalRequest {
  const { approvalId, ...rest } = more;
  return {
    requirement: {
      fields: ["amount", "currency", "destination"],
      expiresInSeconds: 600,
      acrValues: ["mfa"],
      scopes: [],
      approvers: [],
      authorizationDetails: [],
    },
    check: {
      action: "payments:transfer",
      resource: { type: "account", id: account, attributes: {} },
      context: { amount: 150, currency: "EUR", destination: "DE02100100109307118603" },
      ...(approvalId !== undefined ? { approvalId } : {}),
    },
    principal: principal(subject),
    caller,
    decisionId: randomUUID(),
    nowMs: Date.now(),
    dryRun: false,
    ...rest,
  };
}

function approvalIdOf(outcome: ApprovalOutcome): string | undefined {
  return outcome.kind === "challenge" ? outcome.challenge.approval_id : undefined;
}

/**
 * This process's clock runs `offsetMs` off the database's (as a host whose time is not synchronized), measured as
 * Verdict measures it; `work` is given the process's approvals stage started on that clock.
 */
async function skewed<T>(process: Process, offsetMs: number, work: (approvals: Approvals) => Promise<T>): Promise<T> {
  const real = Date.now.bind(Date);
  vi.spyOn(Date, "now").mockImplementation(() => real() + offsetMs);
  try {
    expect(await process.database.clock.measure()).toBe(true);
    expect(Math.abs(process.database.clock.offsetMs() + offsetMs)).toBeLessThan(1_000);
    return await work(process.restarted());
  } finally {
    vi.restoreAllMocks();
    await process.database.clock.measure();
  }
}

describe("the same request asked at once on two processes", () => {
  it("is kept once: every asker gets the same approval_id, one pending document, one requested event and one announcement", async () => {
    const alice = `alice-${randomUUID().slice(0, 8)}`;
    const account = `acc-${randomUUID()}`;
    const asked = await Promise.all(Array.from({ length: 8 }, (_, i) => processes[i % 2]!.approvals.settle(transfer(alice, account))));
    const ids = new Set(asked.map(approvalIdOf));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(await stored().countDocuments({ subject: alice, status: "pending" })).toBe(1);
    const told = processes.flatMap((p) => p.told).filter((view) => view.subject === alice);
    expect(told.map((view) => view.approval_id)).toEqual([...ids]);
    const requested = processes.flatMap((p) => p.events).filter((event) => event.target?.subject === alice && event.action === "requested");
    expect(requested).toHaveLength(1);
  });

  it("asks anew once the request's approval was decided, and once it expired unmarked", async () => {
    const alice = `alice-${randomUUID().slice(0, 8)}`;
    const account = `acc-${randomUUID()}`;
    const [a, b] = processes as [Process, Process];
    const first = approvalIdOf(await a.approvals.settle(transfer(alice, account)));
    decider = principal(alice, { clientId: "bank-app", clientType: "web", acr: "mfa", authTime: Math.floor(Date.now() / 1000) });
    await a.approvals.decide({ approvalId: first ?? "", token: "the person's", verdict: "refuse", via: "http" });
    const second = approvalIdOf(await b.approvals.settle(transfer(alice, account)));
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    // Its time is up, and no sweep marked it yet: the next ask ends it (its expired event) and keeps a new one.
    await stored().updateOne({ _id: second as never }, { $set: { expires_at: new Date(Date.now() - 1_000) } });
    const third = approvalIdOf(await a.approvals.settle(transfer(alice, account)));
    expect(third).toBeDefined();
    expect(new Set([first, second, third]).size).toBe(3);
    expect((await stored().findOne({ _id: second as never }))?.["status"]).toBe("expired");
    expect(await stored().countDocuments({ subject: alice, status: "pending" })).toBe(1);
  });

  it("still finds a pending approval kept before requests had a key, and keeps no second one", async () => {
    const alice = `alice-${randomUUID().slice(0, 8)}`;
    const account = `acc-${randomUUID()}`;
    const [a, b] = processes as [Process, Process];
    const id = approvalIdOf(await a.approvals.settle(transfer(alice, account)));
    await stored().updateOne({ _id: id as never }, { $unset: { request_key: "" } });
    expect(approvalIdOf(await b.approvals.settle(transfer(alice, account)))).toBe(id);
    expect(await stored().countDocuments({ subject: alice, status: "pending" })).toBe(1);
  });
});

describe("an approval's expiry", () => {
  it("is judged on the database's clock: a process 2 min behind neither approves nor uses an approval that expired 30 s ago", async () => {
    const alice = `alice-${randomUUID().slice(0, 8)}`;
    const account = `acc-${randomUUID()}`;
    const behind = processes[1]!;
    const id = approvalIdOf(await processes[0]!.approvals.settle(transfer(alice, account))) ?? "";
    await stored().updateOne({ _id: id as never }, { $set: { expires_at: new Date(Date.now() - 30_000) } });
    decider = principal(alice, { clientId: "bank-app", clientType: "web", acr: "mfa", authTime: Math.floor(Date.now() / 1000) - 60 });
    await skewed(behind, -120_000, async (approvals) => {
      // until 2026-12-07 its expiry was judged on each process's clock: this one approved it
      await expect(approvals.decide({ approvalId: id, token: "the person's", verdict: "approve", via: "http" })).rejects.toMatchObject({
        code: "approval_expired",
      });
    });
    // approved (as a process on time would have before it expired), then used through the process behind
    await stored().updateOne({ _id: id as never }, { $set: { status: "approved" } });
    const used = await skewed(behind, -120_000, (approvals) => approvals.settle(transfer(alice, account, { approvalId: id, nowMs: Date.now() })));
    expect(used).toMatchObject({ kind: "deny", reason: { code: "approval_expired" } });
    expect((await stored().findOne({ _id: id as never }))?.["status"]).toBe("expired");
  });

  it("is kept on the database's clock: a process 2 min behind keeps an approval that expires expires_in after the database's now", async () => {
    const alice = `alice-${randomUUID().slice(0, 8)}`;
    const behind = processes[1]!;
    const outcome = await skewed(behind, -120_000, (approvals) => approvals.settle(transfer(alice, `acc-${randomUUID()}`, { nowMs: Date.now() })));
    const doc = await stored().findOne({ _id: approvalIdOf(outcome) as never });
    expect(Math.abs((doc?.["created_at"] as Date).getTime() - Date.now())).toBeLessThan(5_000);
    expect(Math.abs((doc?.["expires_at"] as Date).getTime() - (Date.now() + 600_000))).toBeLessThan(5_000);
  });
});

describe("an approval's store, at the default state deadline", () => {
  it("answers a read the database answered in time though the process was too busy to take it in before the deadline", async () => {
    const id = approvalIdOf(await processes[0]!.approvals.settle(transfer(`busy-${randomUUID().slice(0, 8)}`, `acc-${randomUUID()}`)));
    expect(id).toBeDefined();
    // Once the read is on its way, the event loop is held twice the deadline; the answer waits in the socket. A fixed
    // timer fired first and refused it, state_unavailable (a step-up's approval asked for under a flood).
    const holder = holdLoopAfter("find", 2 * DEFAULT_STATE_TIMEOUT_MS);
    const database = Database.open({ uri: mongoUri(), database: name, log: silentLogger(), onCommand: (command) => holder.onCommand(command) });
    try {
      const store = new ApprovalStore(database, new StateCalls(DEFAULT_STATE_TIMEOUT_MS, silentLogger()));
      const read = await store.get(id as string).catch((error: unknown) => error);
      expect(read).not.toBeInstanceOf(StateUnavailableError);
      expect(holder.held).toBe(1);
      expect(read).toMatchObject({ _id: id, status: "pending" });
    } finally {
      await database.close();
    }
  });
});
