import { describe, expect, it } from "vitest";
import { AuditQueryError, findOf, INDEXES, parseAuditQuery, parseTime, type AuditQueryRequest } from "../../src/audit/index.js";
import { cell } from "../../src/cli/audit.js";

const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);

describe("times in queries", () => {
  it.each([
    ["90s", NOW - 90_000],
    ["15m", NOW - 900_000],
    ["1h", NOW - 3_600_000],
    ["7d", NOW - 7 * 86_400_000],
    ["2026-11-24T10:00:00Z", Date.UTC(2026, 10, 24, 10)],
    ["2026-11-24T12:00:00.500+01:00", Date.UTC(2026, 10, 24, 11, 0, 0, 500)],
  ])("reads %s", (text, expected) => {
    expect(parseTime(text, NOW, "since").getTime()).toBe(expected);
  });

  it.each(["1w", "-1h", "yesterday", "2026-11-24", "2026-13-45T99:00:00Z"])("refuses %s, saying what it accepts", (text) => {
    expect(() => parseTime(text, NOW, "since")).toThrow(/duration back from now .* or an RFC 3339 time/);
  });
});

describe("query validation", () => {
  it("reads every filter", () => {
    const query = parseAuditQuery(
      {
        subject: "alice",
        clientId: "agent-1",
        action: "payments:transfer",
        decision: "deny",
        reason: "limit_exceeded",
        api: "billing",
        since: "1h",
        until: "1m",
        limit: 10,
      },
      NOW,
    );
    expect(query).toEqual({
      subject: "alice",
      clientId: "agent-1",
      action: "payments:transfer",
      decision: "DENY",
      reason: "limit_exceeded",
      apis: ["billing"],
      // events have no calling API: one API's records are its decisions
      eventKinds: [],
      since: new Date(NOW - 3_600_000),
      until: new Date(NOW - 60_000),
      limit: 10,
    });
  });

  it.each<[string, AuditQueryRequest, RegExp]>([
    ["an unknown decision", { decision: "MAYBE" }, /decision must be one of ALLOW, DENY, STEP_UP, ERROR/],
    ["a limit over the maximum", { limit: 5_000 }, /limit must be a whole number from 1 to 1000/],
    ["a negative limit", { limit: -1 }, /limit must be/],
    ["since after until", { since: "1m", until: "1h" }, /since must be before until/],
    ["a control character", { subject: "al\u0000ice" }, /without control characters/],
    ["an unknown kind", { kind: "events" }, /kind must be one of decision, suspension, approval/],
    ["a page token this service did not give", { pageToken: "eyJ4IjoxfQ" }, /page token/],
  ])("refuses %s with an AuditQueryError", (_, request, message) => {
    expect(() => parseAuditQuery(request, NOW)).toThrow(AuditQueryError);
    expect(() => parseAuditQuery(request, NOW)).toThrow(message);
  });

  it("keeps values that look like operators as plain strings", () => {
    const { filter } = findOf(parseAuditQuery({ subject: '{"$ne": null}', action: "$where" }, NOW), NOW);
    expect(filter["subject"]).toBe('{"$ne": null}');
    expect(filter["action"]).toBe("$where");
  });
});

describe("query shapes and indexes", () => {
  const byField = new Map(INDEXES.map((index) => [Object.keys(index.key)[0], index]));
  const equalityFields = (filter: Record<string, unknown>) =>
    Object.entries(filter)
      .filter(([key, value]) => !["time", "expires_at", "$or"].includes(key) && typeof value === "string")
      .map(([key]) => key);

  it.each<[string, AuditQueryRequest]>([
    ["no filter", {}],
    ["a time range only", { since: "1h", until: "5m" }],
    ["a subject", { subject: "alice", since: "1h" }],
    ["an agent", { clientId: "agent-1" }],
    ["an action", { action: "payments:transfer" }],
    ["a decision", { decision: "DENY", since: "7d" }],
    ["a reason", { reason: "limit_exceeded" }],
    ["an API", { api: "billing" }],
    ["a subject and an agent and a reason", { subject: "alice", clientId: "agent-1", reason: "step_up_required" }],
  ])("answers a query by %s from an index that has its equality field first and the sort after it", (_, request) => {
    const { filter, sort } = findOf(parseAuditQuery(request, NOW), NOW);
    expect(sort).toEqual({ time: -1, _id: -1 });
    const fields = equalityFields(filter);
    const candidates = fields.length === 0 ? [byField.get("time")] : fields.map((field) => byField.get(field));
    for (const index of candidates) {
      expect(index, `an index for ${fields.join(", ") || "time"}`).toBeDefined();
      const keys = Object.entries(index?.key ?? {});
      expect(keys.slice(-2)).toEqual([
        ["time", -1],
        ["_id", -1],
      ]);
    }
    // retention: expired records are never returned, TTL or not
    expect(filter["expires_at"]).toEqual({ $gt: new Date(NOW) });
  });

  it("pages by (time, _id) so records of the same millisecond are neither repeated nor skipped", () => {
    const first = parseAuditQuery({ subject: "alice" }, NOW);
    const token = Buffer.from(JSON.stringify({ t: NOW - 1_000, id: "m" })).toString("base64url");
    const { filter } = findOf(parseAuditQuery({ subject: "alice", pageToken: token }, NOW), NOW);
    expect(filter["time"]).toEqual({ $lte: new Date(NOW - 1_000) });
    expect(filter["$or"]).toEqual([{ time: { $lt: new Date(NOW - 1_000) } }, { _id: { $lt: "m" } }]);
    expect(findOf(first, NOW).limit).toBe(101);
  });

  it("selects decisions by the absence of kind, and one kind of event through the partial events index", () => {
    expect(findOf(parseAuditQuery({ kind: "decision", subject: "alice" }, NOW), NOW).filter).toMatchObject({ kind: { $exists: false }, subject: "alice" });
    const { filter } = findOf(parseAuditQuery({ kind: "suspension" }, NOW), NOW);
    expect(filter).toMatchObject({ kind: "event", event: "suspension" });
    const index = INDEXES.find((i) => i.name === "audit_event_time");
    expect(index?.key).toEqual({ event: 1, time: -1, _id: -1 });
    // The query names the partial index's filter, so the server may use it.
    expect(index?.partialFilterExpression).toEqual({ kind: "event" });
  });

  it("restricts a caller to its APIs' decisions and the kinds of events it may read, beside paging", () => {
    const token = Buffer.from(JSON.stringify({ t: NOW - 1_000, id: "m" })).toString("base64url");
    const query = { ...parseAuditQuery({ pageToken: token }, NOW), apis: ["a", "b"], eventKinds: ["suspension" as const] };
    const { filter } = findOf(query, NOW);
    expect(filter["$and"]).toEqual([
      {
        $or: [
          { kind: { $exists: false }, "caller.api": { $in: ["a", "b"] } },
          { kind: "event", event: { $in: ["suspension"] } },
        ],
      },
    ]);
    expect(filter["$or"]).toEqual([{ time: { $lt: new Date(NOW - 1_000) } }, { _id: { $lt: "m" } }]);
  });

  it("has a TTL index on expires_at", () => {
    expect(INDEXES.find((index) => index.expireAfterSeconds === 0)?.key).toEqual({ expires_at: 1 });
  });
});

describe("table cells", () => {
  it("never print control or direction characters from tokens", () => {
    expect(cell("evil\u001b[2J\u202euser")).toBe("evil\uFFFD[2J\uFFFDuser");
  });

  it("shorten long values", () => {
    expect(cell("x".repeat(100))).toHaveLength(48);
  });
});
