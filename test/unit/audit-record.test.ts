import { describe, expect, it } from "vitest";
import {
  buildEventRecord,
  buildRecord,
  escapeKey,
  fromSpillLine,
  maskRulesFrom,
  publicEvent,
  publicRecord,
  toSpillLine,
  unescapeKey,
  type AuditEvent,
  type DecisionRecord,
} from "../../src/audit/index.js";
import { sha256Hex } from "../../src/token/index.js";
import { decisionEvent, POLICY_DATA, principal } from "../support/audit.js";

const masks = maskRulesFrom(POLICY_DATA);
const DAY = 86_400_000;
const build = (event: ReturnType<typeof decisionEvent>) => buildRecord(event, { masks, retentionMs: 30 * DAY });

/** Every key of a stored document, at every depth. */
function keysOf(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((item) => keysOf(item, out));
  else if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    for (const [key, item] of Object.entries(value)) {
      out.push(key);
      keysOf(item, out);
    }
  }
  return out;
}

describe("a decision record", () => {
  it("carries who, what, the decision and why, what was enforced, the revision, latency, request id, jti and token hash", () => {
    const who = principal({ actors: [{ subject: "orchestrator", clientId: "agent-0" }], acr: "mfa", scopes: ["payments:write"] });
    const event = decisionEvent({
      principal: who,
      action: "payments:transfer",
      resource: { type: "account", id: "acc-1" },
      context: { amount: 400 },
      requestId: "req-42",
      startedAt: Date.UTC(2026, 10, 24, 12),
      result: {
        obligations: [{ type: "reserve", key: "payments%3Atransfer/daily_per_user/alice", amount: 400, limit: 1000, window: "day", total: 800 }],
      },
    });
    const record = build(event);
    expect(record).toMatchObject({
      _id: event.decisionId,
      time: new Date(Date.UTC(2026, 10, 24, 12)),
      expires_at: new Date(Date.UTC(2026, 10, 24, 12) + 30 * DAY),
      caller: { api: "invoices-api", audience: "https://invoices.example" },
      subject: "alice",
      client_id: "agent-1",
      client_type: "ai-agent",
      issuer: "https://issuer.test.example",
      scopes: ["payments:write"],
      acr: "mfa",
      actors: [{ subject: "orchestrator", client_id: "agent-0" }],
      action: "payments:transfer",
      resource: { type: "account", id: "acc-1", attributes: {} },
      context: { amount: 400 },
      decision: "ALLOW",
      reasons: [],
      obligations: [{ type: "reserve", key: "payments%3Atransfer/daily_per_user/alice", amount: 400, limit: 1000, window: "day", total: 800 }],
      policy_revision: "sha256:0123456789abcdef",
      latency_ms: 1.235,
      request_id: "req-42",
      token: { jti: who.tokenId, sha256: "a".repeat(64) },
      dry_run: false,
    });
    expect(record).not.toHaveProperty("shadow");
  });

  it("never holds the token: only its SHA-256, also for a token that failed verification", () => {
    const token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.Zm9yZ2Vk";
    const record = build(
      decisionEvent({
        principal: null,
        token,
        decision: "DENY",
        reasons: ["signature_invalid"],
        result: { challenge: { error: "invalid_token", scopes: [], acr_values: [], description: "d" } },
      }),
    );
    expect(record.token).toEqual({ sha256: sha256Hex(token) });
    expect(record).not.toHaveProperty("subject");
    expect(record.challenge).toEqual({ error: "invalid_token", scopes: [], acr_values: [], description: "d" });
    const text = JSON.stringify(record);
    for (const part of token.split(".")) expect(text).not.toContain(part);
  });

  it("has no token part at all when no token was sent", () => {
    expect(build(decisionEvent({ principal: null, token: "", decision: "DENY", reasons: ["token_missing"] })).token).toEqual({});
  });

  it("records a Check that ended in an internal error as ERROR with internal_error", () => {
    const record = build(decisionEvent({ error: true }));
    expect(record.decision).toBe("ERROR");
    expect(record.reasons.map((r) => r.code)).toEqual(["internal_error"]);
    expect(record.subject).toBe("alice"); // the token had verified before the error
  });

  it("keeps the shadow result when the decision has one", () => {
    const shadow = { revision: "sha256:fedcba9876543210", effect: "DENY" as const, reasons: [{ code: "limit_exceeded", message: "m" }], agrees: false };
    expect(build(decisionEvent({ result: { shadow } })).shadow).toEqual(shadow);
  });

  it("stores masked context and attributes, with keys that cannot be operators or field paths", () => {
    const record = build(
      decisionEvent({
        context: { $where: "sleep(1000)", "a.b": { $gt: "" }, "%2E": 1, payment: { card_number: "4111111111111111", password: "p" } },
        resource: { type: "invoice", id: "inv-1", attributes: { email: "a@b.example", "x.y": 1 } },
      }),
    );
    const keys = keysOf({ context: record.context, attributes: record.resource.attributes });
    expect(keys.filter((k) => k.startsWith("$") || k.includes("."))).toEqual([]);
    expect(JSON.stringify(record)).not.toContain("4111111111111111");
    expect(JSON.stringify(record)).not.toContain("a@b.example");
    const shown = publicRecord(record);
    expect(shown.context).toEqual({ $where: "sleep(1000)", "a.b": { $gt: "" }, "%2E": 1, payment: { card_number: "[masked]" } });
    expect(shown.resource.attributes).toEqual({ email: "[masked]", "x.y": 1 });
  });

  it("masks a card number or a token put in request_id", () => {
    expect(build(decisionEvent({ requestId: "pay-4111111111111111" })).request_id).toBe("[masked]");
    expect(build(decisionEvent({ requestId: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln" })).request_id).toBe("[masked]");
    expect(build(decisionEvent({ requestId: "req-1" })).request_id).toBe("req-1");
  });

  it("keeps nothing caller-supplied when the masking rules are invalid", () => {
    const record = buildRecord(
      decisionEvent({ context: { card_number: "4111111111111111" }, resource: { type: "t", id: "secret-id", attributes: { a: 1 } } }),
      {
        masks: undefined,
        retentionMs: DAY,
      },
    );
    expect(record.context).toEqual({});
    expect(record.resource).toEqual({ type: "t", id: "", attributes: {} });
  });

  it("survives a spill file line unchanged", () => {
    const record: DecisionRecord = build(decisionEvent({ context: { "a.b": [1, { $c: null }] } }));
    expect(fromSpillLine(toSpillLine(record).trimEnd())).toEqual(record);
    expect(() => fromSpillLine('{"_id":"x"}')).toThrow();
    expect(() => fromSpillLine('{"_id":"x","decision":"ALLOW","time":"nope","expires_at":"nope"')).toThrow();
  });
});

describe("an audit event record", () => {
  const event: AuditEvent = {
    kind: "suspension",
    action: "suspended",
    actor: { via: "cli", subject: "oncall" },
    target: { kind: "delegation", issuer: "https://issuer.example", subject: "alice", client_id: "agent-7" },
    reason: "loops on refunds",
    details: { until: "2026-11-24T13:00:00.000Z" },
  };

  it("keeps the target's subject, agent and issuer where decisions keep theirs, so the trail's filters find it", () => {
    const record = buildEventRecord(event, { id: "e-1", now: Date.UTC(2026, 10, 24, 12), retentionMs: DAY });
    expect(record).toEqual({
      _id: "e-1",
      kind: "event",
      event: "suspension",
      time: new Date(Date.UTC(2026, 10, 24, 12)),
      expires_at: new Date(Date.UTC(2026, 10, 25, 12)),
      action: "suspended",
      actor: { via: "cli", subject: "oncall" },
      target: event.target,
      reason: "loops on refunds",
      details: { until: "2026-11-24T13:00:00.000Z" },
      subject: "alice",
      client_id: "agent-7",
      issuer: "https://issuer.example",
    });
    expect(publicEvent(record)).toMatchObject({ event_id: "e-1", time: "2026-11-24T12:00:00.000Z", kind: "event" });
  });

  it("round-trips through a spill file line, and a line of an unknown event kind is refused", () => {
    const record = buildEventRecord(event, { id: "e-2", now: Date.UTC(2026, 10, 24, 12), retentionMs: DAY });
    expect(fromSpillLine(toSpillLine(record).trimEnd())).toEqual(record);
    expect(() => fromSpillLine(JSON.stringify({ ...record, event: "party" }))).toThrow(/not an audit event/);
  });
});

describe("key escaping", () => {
  it.each(["$where", "a.b", "%", "%2E", "a%24b", "$.%", "__proto__", "plain"])("round-trips %s", (key) => {
    const escaped = escapeKey(key);
    expect(escaped.startsWith("$") || escaped.includes(".")).toBe(false);
    expect(unescapeKey(escaped)).toBe(key);
  });

  it("keeps keys that need no escaping as they are", () => {
    expect(escapeKey("card_number")).toBe("card_number");
  });
});
