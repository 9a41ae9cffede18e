// The console's charts and agent list count decisions, not records: a record of
// counted refusals (src/audit/refusals.ts) stands for its `count` decisions.
import { describe, expect, it } from "vitest";
import type { DecisionRecord } from "../../src/audit/index.js";
import { agentSummaries, decisionStats } from "../../src/server/admin/console/summaries.js";

const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const record = (fields: Partial<DecisionRecord>): Partial<DecisionRecord> => ({
  time: new Date(NOW - 60_000),
  caller: { api: "invoices-api", audience: "https://invoices.example" },
  ...fields,
});

const records = [
  record({ decision: "ALLOW", client_id: "agent-1", subject: "alice" }),
  // one request refused 40 times for unavailable state, one record
  record({ decision: "DENY", client_id: "agent-1", subject: "alice", reasons: [{ code: "state_unavailable", message: "" }], count: 40 }),
  // a forged token sent 7 times, one record, no agent
  record({ decision: "DENY", reasons: [{ code: "signature_invalid", message: "" }], count: 7 }),
];

describe("console summaries", () => {
  it("count what a record of counted refusals stands for in the series, the top reasons and each agent's activity", () => {
    const stats = decisionStats(records, NOW - 3_600_000, NOW);
    expect(stats.series.reduce((n, s) => n + s.DENY, 0)).toBe(47);
    expect(stats.series.reduce((n, s) => n + s.ALLOW, 0)).toBe(1);
    expect(stats.top_reasons).toEqual([
      { code: "state_unavailable", count: 40 },
      { code: "signature_invalid", count: 7 },
    ]);
    expect(stats.agents).toEqual([
      { client_id: "agent-1", total: 41, ALLOW: 1, DENY: 40, STEP_UP: 0, ERROR: 0 },
      { client_id: "(no verified token)", total: 7, ALLOW: 0, DENY: 7, STEP_UP: 0, ERROR: 0 },
    ]);
    expect(stats.sampled).toBe(3);
    expect(agentSummaries(records)).toMatchObject([{ client_id: "agent-1", users: ["alice"], counts: { ALLOW: 1, DENY: 40 } }]);
  });
});
