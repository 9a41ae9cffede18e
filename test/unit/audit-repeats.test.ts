// How repeated refused attempts (audit events marked counted) become records (src/audit/repeats.ts).
import { describe, expect, it } from "vitest";
import { buildEventRecord, EventRepeats, MAX_EVENT_KEYS, publicEvent, type AuditEvent } from "../../src/audit/index.js";
import { trailTable } from "../../src/cli/audit.js";

const T0 = Date.parse("2026-12-07T10:00:00Z");

function attempt(subject: string, overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    kind: "approval",
    action: "decide_refused",
    actor: { via: "grpc", api: "invoices-api", issuer: "https://issuer.test", subject, client_id: "agent-7" },
    target: { approval_id: "a1", subject: "alice" },
    reason: "approver_not_allowed: not yours",
    details: { code: "approver_not_allowed", verdict: "approve" },
    counted: true,
    ...overrides,
  };
}

/** Offers an event the way the writer does; true when it was counted (not recorded at once). */
function offer(repeats: EventRepeats, event: AuditEvent, at: number): boolean {
  return repeats.repeat(event, new Date(at), () => buildEventRecord(event, { id: `r-${at}`, now: at, retentionMs: 86_400_000 }));
}

describe("repeated refused attempts counted per window", () => {
  it("records the first at once and the repeats as one record with how many, from the first repeat to the last", () => {
    const repeats = new EventRepeats();
    expect(offer(repeats, attempt("alice"), T0)).toBe(false);
    for (let i = 1; i <= 40; i++) expect(offer(repeats, attempt("alice"), T0 + i)).toBe(true);
    const records = repeats.take();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      action: "decide_refused",
      count: 40,
      time: new Date(T0 + 1),
      last_time: new Date(T0 + 40),
      details: { code: "approver_not_allowed" },
    });
    // a fresh window: the next one is a first again
    expect(offer(repeats, attempt("alice"), T0 + 50)).toBe(false);
    expect(repeats.take()).toEqual([]);
  });

  it("keeps apart attempts that differ in who, what, how or the verdict tried", () => {
    const repeats = new EventRepeats();
    const different = [
      attempt("alice"),
      attempt("bob"),
      attempt("alice", { target: { approval_id: "a2", subject: "alice" } }),
      attempt("alice", { actor: { via: "http", subject: "alice", client_id: "agent-7" } }),
      attempt("alice", { details: { code: "approver_not_allowed", verdict: "refuse" } }),
      attempt("alice", {
        reason: "approval_authentication_insufficient: too old",
        details: { code: "approval_authentication_insufficient", verdict: "approve" },
      }),
    ];
    for (const event of different) expect(offer(repeats, event, T0)).toBe(false);
    for (const event of different) expect(offer(repeats, event, T0 + 1)).toBe(true);
    expect(repeats.take().map((r) => r.count)).toEqual(Array(different.length).fill(1));
  });

  it("never counts an event not marked counted (an approval given, a suspension)", () => {
    const repeats = new EventRepeats();
    const approved = attempt("alice", { action: "approved", counted: undefined });
    for (let i = 0; i < 3; i++) expect(offer(repeats, approved, T0 + i)).toBe(false);
    expect(repeats.size).toBe(0);
  });

  it("tells apart at most MAX_EVENT_KEYS different events per window, recording the rest one by one", () => {
    const repeats = new EventRepeats();
    for (let i = 0; i < MAX_EVENT_KEYS; i++) offer(repeats, attempt(`user-${i}`), T0);
    const beyond = attempt("one-too-many");
    expect(offer(repeats, beyond, T0)).toBe(false);
    expect(offer(repeats, beyond, T0 + 1)).toBe(false);
    expect(offer(repeats, attempt("user-0"), T0 + 1)).toBe(true);
    expect(repeats.take()).toHaveLength(1);
  });

  it("shows how many in the query's record (last_time in RFC 3339) and after the action in the CLI's table", () => {
    const repeats = new EventRepeats();
    offer(repeats, attempt("alice"), T0);
    for (let i = 1; i <= 41; i++) offer(repeats, attempt("alice"), T0 + i * 100);
    const [record] = repeats.take().map(publicEvent);
    expect(record).toMatchObject({ count: 41, time: new Date(T0 + 100).toISOString(), last_time: new Date(T0 + 4_100).toISOString() });
    expect(trailTable([record!])).toContain("decide_refused ×41");
    expect(trailTable([publicEvent(buildEventRecord(attempt("alice"), { id: "one", now: T0, retentionMs: 1_000 }))])).not.toContain("×");
  });
});
