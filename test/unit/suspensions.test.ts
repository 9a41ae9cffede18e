// The pure parts of suspensions: which suspension stops a principal (the view),
// what a target needs, how Shared Signals subjects name targets, and how a policy's
// suspend obligation is read.
import { describe, expect, it } from "vitest";
import { parseDecision, PolicyError } from "../../src/policy/index.js";
import { subjectTarget } from "../../src/ssf/index.js";
import { parseTarget, suspensionId, type SuspensionRecord } from "../../src/suspensions/index.js";
import { suspendedMessage, SuspensionView } from "../../src/suspensions/view.js";
import type { Principal } from "../../src/token/index.js";

const principal: Principal = {
  subject: "alice",
  clientId: "agent-7",
  actors: [],
  delegationDepth: 0,
  scopes: [],
  issuer: "https://issuer.example",
  tokenId: "jti-1",
  sessionId: "sid-1",
  expiresAt: 2_000_000_000,
  issuedAt: 1_700_000_000,
  audience: [],
} as unknown as Principal;

function record(target: SuspensionRecord["target"], extra: Partial<SuspensionRecord> = {}): SuspensionRecord {
  return {
    _id: suspensionId("admin", target),
    target,
    target_key: suspensionId("", target),
    source: "admin",
    reason: "r",
    by: { via: "grpc" },
    since: new Date(1_700_000_000_000),
    ...extra,
  };
}

const NOW = 1_700_000_100_000;

describe("the suspension view", () => {
  it("finds a principal by each of its identifiers, the most specific first", () => {
    const view = new SuspensionView();
    view.replace([record({ kind: "agent", client_id: "agent-7" }), record({ kind: "token", token_id: "jti-1" })]);
    expect(view.find(principal, NOW)?.target.kind).toBe("token");
    for (const target of [
      { kind: "user", subject: "alice" },
      { kind: "delegation", subject: "alice", client_id: "agent-7" },
      { kind: "session", session_id: "sid-1" },
    ] as const) {
      view.replace([record(target)]);
      expect(view.find(principal, NOW)?.target).toEqual(target);
    }
    view.replace([record({ kind: "delegation", subject: "alice", client_id: "agent-8" }), record({ kind: "user", subject: "bob" })]);
    expect(view.find(principal, NOW)).toBeUndefined();
  });

  it("finds an agent acting in the act chain", () => {
    const view = new SuspensionView();
    view.replace([record({ kind: "agent", client_id: "inner-agent" })]);
    expect(view.find({ ...principal, actors: [{ subject: "svc", clientId: "inner-agent" }] }, NOW)?.target.client_id).toBe("inner-agent");
  });

  it("ignores an expired suspension, one of another issuer, and tokens issued after a revocation", () => {
    const view = new SuspensionView();
    view.replace([
      record({ kind: "agent", client_id: "agent-7" }, { expires_at: new Date(NOW) }),
      record({ kind: "user", subject: "alice", issuer: "https://other.example" }),
      record({ kind: "session", session_id: "sid-1" }, { issued_before: new Date(principal.issuedAt! * 1000) }),
    ]);
    expect(view.find(principal, NOW)).toBeUndefined();
    view.replace([record({ kind: "session", session_id: "sid-1" }, { issued_before: new Date(principal.issuedAt! * 1000 + 1) })]);
    expect(view.find(principal, NOW)?.issuedBefore).toBe(principal.issuedAt! * 1000 + 1);
  });

  it("tells the caller what is suspended and until when, never the reason", () => {
    const view = new SuspensionView();
    view.replace([
      record({ kind: "agent", client_id: "agent-7", issuer: "https://issuer.example" }, { reason: "secret incident 42", expires_at: new Date(NOW + 60_000) }),
    ]);
    const message = suspendedMessage(view.find(principal, NOW)!);
    expect(message).toBe(`The agent agent-7 is suspended until ${new Date(NOW + 60_000).toISOString()}.`);
  });
});

describe("targets", () => {
  it("takes exactly the identifiers its kind needs", () => {
    expect(parseTarget({ kind: "delegation", subject: "alice", client_id: "agent-7", issuer: "" })).toEqual({
      kind: "delegation",
      subject: "alice",
      client_id: "agent-7",
    });
    expect(() => parseTarget({ kind: "user" })).toThrow("a user suspension needs subject");
    expect(() => parseTarget({ kind: "agent" })).toThrow("an agent suspension needs client_id");
    expect(() => parseTarget({ kind: "token", token_id: "j", session_id: "s" })).toThrow("a token suspension takes no session_id");
    expect(() => parseTarget({ kind: "agent", client_id: "a\nb" })).toThrow("without control characters");
    expect(() => parseTarget({ kind: "everyone" })).toThrow("target kind must be one of");
  });

  it("names one source's suspension of one target with one stable id", () => {
    const target = { kind: "agent", client_id: "agent-7" } as const;
    expect(suspensionId("admin", target)).toBe(suspensionId("admin", { ...target }));
    expect(suspensionId("admin", target)).not.toBe(suspensionId("policy", target));
    expect(suspensionId("admin", target)).not.toBe(suspensionId("admin", { ...target, issuer: "https://i" }));
  });
});

describe("Shared Signals subjects", () => {
  it("map iss_sub, opaque and complex subjects to users and sessions", () => {
    expect(subjectTarget({ format: "iss_sub", iss: "https://i", sub: "alice" }, "https://t")).toEqual({ kind: "user", issuer: "https://i", subject: "alice" });
    expect(subjectTarget({ format: "opaque", id: "alice" }, "https://t")).toEqual({ kind: "user", issuer: "https://t", subject: "alice" });
    expect(subjectTarget({ format: "opaque", id: "alice" }, undefined)).toEqual({ kind: "user", subject: "alice" });
    expect(
      subjectTarget({ format: "complex", user: { format: "iss_sub", iss: "https://i", sub: "a" }, session: { format: "opaque", id: "s-1" } }, "https://t"),
    ).toEqual({
      kind: "session",
      issuer: "https://t",
      session_id: "s-1",
    });
    expect(subjectTarget({ format: "complex", user: { format: "iss_sub", iss: "https://i", sub: "a" } }, undefined)).toEqual({
      kind: "user",
      issuer: "https://i",
      subject: "a",
    });
  });

  it("name nothing for identifiers Verdict cannot match to tokens", () => {
    expect(subjectTarget({ format: "email", email: "a@example.com" }, "https://t")).toBeUndefined();
    expect(subjectTarget("alice", "https://t")).toBeUndefined();
    expect(subjectTarget({ format: "iss_sub", iss: "https://i" }, "https://t")).toBeUndefined();
  });
});

describe("the suspend obligation in a policy's output", () => {
  const brake = { type: "suspend", key: ["brake", "a"], target: "agent", seconds: 600, after: 20, window: "sliding:60" };

  it("is read on a deny, with its count and window", () => {
    const [obligation] = parseDecision({ effect: "deny", reasons: [{ code: "x" }], obligations: [brake] }).obligations;
    expect(obligation).toMatchObject({ type: "suspend", target: "agent", seconds: 600, after: { limit: 20, window: { kind: "sliding", seconds: 60 } } });
  });

  it.each([
    ["an unknown target", { ...brake, target: "everyone" }, "target must be one of agent, user, delegation, token, session"],
    ["more than a day", { ...brake, seconds: 86_401 }, "seconds must be at most 86400"],
    ["after without window", { ...brake, window: undefined }, "window must be set together with the other"],
    ["no seconds", { ...brake, seconds: undefined }, "seconds must be"],
  ])("refuses %s", (_name, obligation, message) => {
    expect(() => parseDecision({ effect: "deny", reasons: [{ code: "x" }], obligations: [obligation] })).toThrow(PolicyError);
    expect(() => parseDecision({ effect: "deny", reasons: [{ code: "x" }], obligations: [obligation] })).toThrow(message);
  });
});
