// The console reads the trail only with queries the `decisions` collection's indexes
// answer in order: an equality on an indexed field (or none), then the index's own
// (time, _id) order, and always a limit. A filter the console offers without such an
// index would make MongoDB scan and sort in memory, and compete with the audit writes
// of the decision path.
import { describe, expect, it } from "vitest";
import { findOf, INDEXES, MAX_LIMIT, parseAuditQuery, type AuditQueryRequest } from "../../src/audit/index.js";
import { CONSOLE_PAGE_LIMIT } from "../../src/server/admin/console/index.js";

const NOW = Date.parse("2026-12-01T12:00:00Z");

/** The index whose keys are exactly this equality field (or none) followed by time and _id, descending. */
function indexFor(equality: string | undefined): string | undefined {
  const wanted = [...(equality ? [equality] : []), "time", "_id"];
  return INDEXES.find((index) => {
    const key = index.key as Record<string, number>;
    const keys = Object.keys(key);
    return keys.length === wanted.length && keys.every((k, i) => k === wanted[i]) && key["time"] === -1 && key["_id"] === -1;
  })?.name;
}

describe("the console's queries of the trail", () => {
  const filters: [string, AuditQueryRequest, string | undefined][] = [
    ["no filter, a time range", { since: "24h" }, undefined],
    ["subject", { subject: "alice", since: "1h" }, "subject"],
    ["agent", { clientId: "agent-1" }, "client_id"],
    ["action", { action: "invoices:read" }, "action"],
    ["decision", { decision: "DENY" }, "decision"],
    ["reason", { reason: "limit_exceeded" }, "reasons.code"],
    ["API", { api: "invoices-api" }, "caller.api"],
  ];
  for (const [name, request, field] of filters) {
    it(`reads by ${name} through an index in its own order, with a limit`, () => {
      const { filter, sort, limit } = findOf(parseAuditQuery({ ...request, limit: CONSOLE_PAGE_LIMIT }, NOW), NOW);
      expect(sort).toEqual({ time: -1, _id: -1 });
      expect(indexFor(field)).toBeDefined();
      if (field) expect(typeof filter[field]).toBe("string");
      expect(limit).toBe(CONSOLE_PAGE_LIMIT + 1);
    });
  }

  it("keeps a page of the list well under the trail's own limit", () => {
    expect(CONSOLE_PAGE_LIMIT).toBeLessThanOrEqual(MAX_LIMIT);
  });
});
