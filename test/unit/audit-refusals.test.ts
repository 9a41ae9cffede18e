// How refused tokens become records: per token for tokens that verified, per API and
// reason for tokens that never did (src/audit/refusals.ts).
import { describe, expect, it } from "vitest";
import { buildRecord, MAX_DISTINCT_COUNTED, MAX_REQUESTS, MAX_TOKENS, maskRulesFrom, publicRecord, RefusalTally } from "../../src/audit/index.js";
import { trailTable } from "../../src/cli/audit.js";
import { sha256Hex } from "../../src/token/index.js";
import { decisionEvent, POLICY_DATA } from "../support/audit.js";

const masks = maskRulesFrom(POLICY_DATA);

/** A refusal's record and key, as the writer builds them for a DENY with a token reason and no principal. */
function refusal(reason: string, token: string, api = "invoices-api") {
  const record = buildRecord(decisionEvent({ decision: "DENY", reasons: [reason], principal: null, token, api }), { masks, retentionMs: 86_400_000 });
  return { record, key: { api, reason, sha256: sha256Hex(token) } };
}

/** Counts a refusal the way the writer does: a repeat when its tally has it, else its record. */
function count(tally: RefusalTally, reason: string, token: string, api?: string): void {
  const { record, key } = refusal(reason, token, api);
  if (!tally.repeat(key, record.time)) expect(tally.add(record, key)).toBe(true);
}

describe("refused tokens counted per window", () => {
  it("keeps tokens that verified apart (expired), up to MAX_TOKENS, then counts the rest together without a hash", () => {
    const tally = new RefusalTally();
    for (let i = 0; i < MAX_TOKENS + 50; i++) count(tally, "token_expired", `expired-${i}`);
    count(tally, "token_expired", "expired-0");
    const records = tally.take();
    expect(records).toHaveLength(MAX_TOKENS + 1);
    expect(records.find((r) => r.token.sha256 === sha256Hex("expired-0"))).toMatchObject({ count: 2 });
    expect(records.filter((r) => r.token.sha256 === undefined)).toMatchObject([{ count: 50, distinct_tokens: 50 }]);
    expect(tally.take()).toEqual([]);
  });

  it("counts forged tokens (bad signature, unknown key, malformed) per API and reason from the first, keeping the first's hash", () => {
    const tally = new RefusalTally();
    for (let i = 0; i < 300; i++) count(tally, "signature_invalid", `forged-${i % 120}`);
    for (let i = 0; i < 5; i++) count(tally, "key_not_found", `stranger-${i}`);
    count(tally, "token_malformed", "not a jwt");
    count(tally, "signature_invalid", "forged-0", "payments-api");
    const records = tally.take();
    expect(records).toHaveLength(4);
    const byKey = new Map(records.map((r) => [`${r.caller.api}/${r.reasons[0]?.code}`, r]));
    expect(byKey.get("invoices-api/signature_invalid")).toMatchObject({ count: 300, distinct_tokens: 120, token: { sha256: sha256Hex("forged-0") } });
    expect(byKey.get("invoices-api/key_not_found")).toMatchObject({ count: 5, distinct_tokens: 5 });
    expect(byKey.get("invoices-api/token_malformed")).toMatchObject({ count: 1, distinct_tokens: 1 });
    expect(byKey.get("payments-api/signature_invalid")).toMatchObject({ count: 1, distinct_tokens: 1 });
  });

  it("shows in `verdict audit query`'s table how many refusals a record stands for, and over how many tokens", () => {
    const tally = new RefusalTally();
    for (let i = 0; i < 3; i++) count(tally, "signature_invalid", `forged-${i}`);
    const [forged] = tally.take();
    expect(trailTable([publicRecord(forged!)])).toContain("×3 (3 tokens)");
    // an ordinary record (not counted) says nothing of the kind
    expect(trailTable([publicRecord(refusal("token_expired", "expired-0").record)])).not.toContain("×");
  });

  it("tells at most MAX_DISTINCT_COUNTED forged tokens apart per window (a floor past it), and still counts every refusal", () => {
    const tally = new RefusalTally();
    const { record, key } = refusal("signature_invalid", "forged-0");
    tally.add(record, key);
    // Repeats as the writer counts them (no record built), each a different token.
    for (let i = 1; i < MAX_DISTINCT_COUNTED + 500; i++)
      tally.repeat({ api: "invoices-api", reason: "signature_invalid", sha256: sha256Hex(`forged-${i}`) }, record.time);
    expect(tally.take()).toMatchObject([{ count: MAX_DISTINCT_COUNTED + 500, distinct_tokens: MAX_DISTINCT_COUNTED }]);
  });

  it("does not let forged tokens take the room kept for tokens that verified", () => {
    const tally = new RefusalTally();
    for (let i = 0; i < 500; i++) count(tally, "signature_invalid", `forged-${i}`);
    for (let i = 0; i < MAX_TOKENS; i++) count(tally, "audience_mismatch", `elsewhere-${i}`);
    const records = tally.take();
    expect(records.filter((r) => r.reasons[0]?.code === "audience_mismatch" && r.token.sha256 !== undefined)).toHaveLength(MAX_TOKENS);
    expect(records).toHaveLength(MAX_TOKENS + 1);
  });
});

describe("requests refused for unavailable state counted per window", () => {
  /** A verified principal's request refused only for unavailable state, and its key as the writer builds it. */
  function unavailable(resource: string, token = "token-1") {
    const record = buildRecord(decisionEvent({ decision: "DENY", reasons: ["state_unavailable"], token, resource: { type: "invoice", id: resource } }), {
      masks,
      retentionMs: 86_400_000,
    });
    return {
      record,
      key: {
        api: "invoices-api",
        reason: "state_unavailable",
        sha256: sha256Hex(token),
        request: JSON.stringify(["invoices:read", "invoice", resource, false]),
      },
    };
  }

  it("keeps each request apart, with its principal, up to MAX_REQUESTS, then leaves the rest to be recorded one by one", () => {
    const tally = new RefusalTally();
    for (let i = 0; i < MAX_REQUESTS; i++) {
      const { record, key } = unavailable(`inv-${i}`);
      expect(tally.add(record, key)).toBe(true);
    }
    const again = unavailable("inv-0");
    expect(tally.repeat(again.key, again.record.time)).toBe(true);
    const beyond = unavailable(`inv-${MAX_REQUESTS}`);
    expect(tally.repeat(beyond.key, beyond.record.time)).toBe(false);
    expect(tally.add(beyond.record, beyond.key)).toBe(false);
    // another token's refusals of the same request are its own
    const other = unavailable("inv-0", "token-2");
    expect(tally.repeat(other.key, other.record.time)).toBe(false);
    const records = tally.take();
    expect(records).toHaveLength(MAX_REQUESTS);
    expect(records.filter((r) => r.count !== undefined)).toMatchObject([{ count: 2, subject: "alice", resource: { id: "inv-0" } }]);
    // refused once: an ordinary record, no count
    expect(records.find((r) => r.resource.id === "inv-1")).not.toHaveProperty("count");
  });
});
