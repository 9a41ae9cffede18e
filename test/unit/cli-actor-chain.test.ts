// How `verdict approvals list` and `verdict audit query` show a chain of agents (src/cli/actor-chain.ts).
import { describe, expect, it } from "vitest";
import { actorChain } from "../../src/cli/actor-chain.js";

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
