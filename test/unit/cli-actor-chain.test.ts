// How `verdict approvals list` and `verdict audit query` show a chain of agents (src/cli/actor-chain.ts).
import { describe, expect, it } from "vitest";
import type { ApprovalMessage } from "@verdict/sdk/wire";
import type { TrailEntry } from "../../src/audit/index.js";
import { actorChain } from "../../src/cli/actor-chain.js";
import { approvalsTable } from "../../src/cli/approvals.js";
import { trailTable } from "../../src/cli/audit.js";

describe("an act chain in the CLI's tables", () => {
  it("shows each actor's subject and client_id, so chains that differ only in a subject print differently", () => {
    const planner = actorChain([{ subject: "planner", client_id: "orch" }]);
    const mallory = actorChain([{ subject: "mallory", client_id: "orch" }]);
    expect(planner).toBe("planner via orch");
    expect(mallory).toBe("mallory via orch");
    expect(planner).not.toBe(mallory);
  });

  it("shows the outermost (current) actor first, and a subject alone where there is no client_id (absent, or the wire's empty)", () => {
    expect(actorChain([{ subject: "planner", client_id: "orch" }, { subject: "agent-7" }, { subject: "helper", client_id: "" }])).toBe(
      "planner via orch > agent-7 > helper",
    );
  });

  it("shows an actor's issuer after its subject when the token named one, so the same subject at two issuers prints differently", () => {
    expect(
      actorChain([
        { subject: "planner", client_id: "orch", iss: "https://partner.example" },
        { subject: "planner", iss: "" },
      ]),
    ).toBe("planner (https://partner.example) via orch > planner");
  });

  it("shows - for a request that came directly", () => {
    expect(actorChain([])).toBe("-");
  });
});

describe("the CLI's tables of approvals and decisions", () => {
  const partner = "https://agents.partner-of-the-bank.example/tenant/7";
  const actors = [{ subject: "planner", client_id: "orch", iss: partner }];

  it("never print a control or direction character a token brought, in the approvals a person decides on", () => {
    const approval = {
      approval_id: "a-1",
      status: "pending",
      subject: "\u202eecila",
      client_id: "agent\u001b[2J",
      actors: [{ subject: "planner\u2066", client_id: "orch", issuer: partner }],
      action: "payments:transfer",
      resource: { type: "account", id: "acc-1" },
      context: { amount: 150 },
      expires_at: "2026-12-07T12:00:00Z",
    } as unknown as ApprovalMessage;
    const printed = approvalsTable([approval]);
    for (const brought of ["\u202e", "\u001b", "\u2066"]) expect(printed).not.toContain(brought);
    expect(printed).toContain("\uFFFDecila");
    expect(printed).toContain(`planner\uFFFD (${partner}) via orch`);
  });

  it("print a chain of agents whole in the audit trail, the issuer that tells two apart included", () => {
    const record = {
      time: "2026-12-07T12:00:00Z",
      decision: "ALLOW",
      caller: { api: "payments-api" },
      subject: "alice",
      client_id: "agent-7",
      actors,
      action: "payments:transfer",
      resource: { type: "account", id: "acc-1" },
      reasons: [],
      obligations: [],
      decision_id: "d-1",
    } as unknown as TrailEntry;
    expect(trailTable([record])).toContain(`planner (${partner}) via orch`);
    expect(trailTable([{ ...record, subject: "x".repeat(100) }])).toContain(`${"x".repeat(47)}…`);
  });
});
