// What `verdict policy replay` and `verdict suspend|resume|suspensions` print of values from the
// audit trail, tokens and identity providers: printable (src/cli/printable.ts), so a direction
// override or an invisible character never reorders or hides what a person reads.
import { describe, expect, it } from "vitest";
import type { SuspensionMessage } from "@verdict/sdk/wire";
import type { ReplaySummary } from "../../src/policy/index.js";
import { report } from "../../src/cli/policy-replay.js";
import { describe as describeSuspension } from "../../src/cli/suspend.js";

/** Characters that reorder or hide text, the ones the review found passing through among them. */
// eslint-disable-next-line no-control-regex -- it looks for control characters, to find any printed
const hiding = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]|[\u{E0000}-\u{E007F}]/u;

describe("the CLI's other lines, printable", () => {
  it("shows policy replay's action, agent and subject from the audit trail with U+FFFD for each hiding character", () => {
    const action = "payments:\u202efsnart";
    const agent = "agent\u2060-7";
    const subject = "al\u2060ice\u{E0041}";
    const summary: ReplaySummary = {
      candidate: "rev-b",
      baseline: null,
      read: 1,
      replayed: 1,
      not_replayed: { token_not_verified: 0, internal_error: 0 },
      fidelity: { reproduced: 0, not_reproduced: 0, not_verified: 1, other_revisions: { "rev-\u061ca": 1 }, causes: {} },
      state: { from_record: 0, from_database: 0 },
      masked: 0,
      changed: { total: 1, reproduced: 0, not_reproduced: 0, not_verified: 1 },
      by_effect: { "ALLOW→DENY": 1 },
      by_action: { [action]: { changed: 1, replayed: 1 } },
      by_reason: { "+limit\ufeff": 1 },
      by_agent: { [agent]: 1 },
      examples: [
        {
          decision_id: "d-1",
          time: "2026-11-24T12:00:00Z",
          action,
          agent,
          subject,
          fidelity: "not_verified",
          basis: "recorded",
          from: { decision: "ALLOW", reasons: [], obligations: [] },
          to: { decision: "DENY", reasons: ["limit\u00ad"], obligations: [] },
          changes: [{ field: "reasons", from: [], to: ["limit\u2066"] }],
        },
      ],
      limits: [],
    };
    const about = {
      candidate: { revision: "rev-b", bundle: "b.tar.gz" },
      baseline: null,
      database: { source: "config", name: "verdict" },
      window: { since: null, until: null, limit: 100 },
    };
    const shown = report(summary, about);
    expect(shown.replaceAll("\n", "")).not.toMatch(hiding);
    expect(shown).toContain("payments:\uFFFDfsnart");
    expect(shown).toContain("agent\uFFFD-7 for al\uFFFDice\uFFFD:");
    expect(shown).toContain("rev-\uFFFDa 1");
    expect(shown).toContain("+limit\uFFFD");
    expect(shown).toContain("DENY limit\uFFFD");
    expect(shown).toContain('["limit\uFFFD"]');
  });

  it("shows a suspension's subject, client_id, issuer and reason (an SSF reason comes from an identity provider) printable", () => {
    const item: SuspensionMessage = {
      id: "s-\u202e1",
      target: { kind: "delegation", issuer: "https://idp\u200b.example", subject: "al\u2060ice", client_id: "agent\ufeff7", token_id: "", session_id: "" },
      source: "ssf:idp:session-revoked",
      reason: "risk\u202e evil\u{E0020}",
      since: "2026-11-24T12:00:00Z",
      until: "",
      issued_before: "",
      by_via: "ssf",
      by_api: "",
      by_subject: "\u061cidp",
    };
    const shown = describeSuspension(item);
    expect(shown).not.toMatch(hiding);
    expect(shown).toBe(
      "delegation al\uFFFDice → agent\uFFFD7 (issuer https://idp\uFFFD.example) until resumed (ssf:idp:session-revoked, by \uFFFDidp via ssf, since 2026-11-24T12:00:00Z): risk\uFFFD evil\uFFFD",
    );
  });
});
