import { describe, expect, it } from "vitest";
import type { ObligationBase } from "../../src/contract/index.js";
import { defaultObligations, OBLIGATION_TYPES, ObligationRegistry, type ObligationType } from "../../src/obligations/index.js";
import { parseDecision, parseStateQueries, PolicyError } from "../../src/policy/index.js";

const reserve = { type: "reserve", key: ["payments", "user-1"], amount: 100, limit: 1000, window: "day" };

describe("policy output validation", () => {
  it("reads a well-formed allow with a reserve obligation", () => {
    expect(parseDecision({ effect: "allow", reasons: [], obligations: [reserve] })).toEqual({
      effect: "allow",
      reasons: [],
      requiredScopes: [],
      requiredAuthorizationDetails: [],
      obligations: [
        {
          ...reserve,
          window: { kind: "calendar", unit: "day" },
          reason: { code: "limit_exceeded", message: "The request would exceed a limit." },
          onFailure: { effect: "deny" },
        },
      ],
      explain: [],
    });
  });

  it("refuses what would drop a limit or an approval: null lists, an approval or step_up beside another effect", () => {
    const approval = { fields: ["amount"], expires_in: 600 };
    for (const [raw, message] of [
      [{ effect: "allow", obligations: null }, /decision\.obligations must be an array/],
      [{ effect: "deny", reasons: [{ code: "x" }], required_scopes: null }, /decision\.required_scopes must be an array/],
      [{ effect: "allow", approval }, /decision\.approval is for a step_up decision, not allow/],
      [{ effect: "deny", reasons: [{ code: "x" }], step_up: { acr_values: ["mfa"] } }, /decision\.step_up is for a step_up decision, not deny/],
      [{ effect: "step_up", reasons: [{ code: "x" }], approval: { ...approval, fields: null } }, /decision\.approval\.fields must be an array/],
    ] as const) {
      expect(() => parseDecision(raw)).toThrow(PolicyError);
      expect(() => parseDecision(raw)).toThrow(message);
    }
    // absent members are none, as before
    expect(parseDecision({ effect: "allow" })).toMatchObject({ effect: "allow", obligations: [], reasons: [] });
  });

  it("reads rate and once obligations, sliding windows, and a step-up on failure", () => {
    const decision = parseDecision({
      effect: "allow",
      obligations: [
        { type: "rate", key: ["agent", "a-1"], limit: 50, window: "sliding:60" },
        { type: "once", key: ["jti", "j-1"], expires_at: 1_800_000_000 },
        { ...reserve, on_failure: "step_up", step_up: { acr_values: ["mfa"], max_age: 60 } },
      ],
    });
    expect(decision.obligations).toEqual([
      {
        type: "rate",
        key: ["agent", "a-1"],
        limit: 50,
        window: { kind: "sliding", seconds: 60 },
        reason: { code: "rate_limited", message: "Too many requests in the window." },
        onFailure: { effect: "deny" },
      },
      {
        type: "once",
        key: ["jti", "j-1"],
        expiresAt: 1_800_000_000,
        reason: { code: "token_replayed", message: "This single-use key was already used." },
        onFailure: { effect: "deny" },
      },
      expect.objectContaining({ type: "reserve", onFailure: { effect: "step_up", stepUp: { acrValues: ["mfa"], maxAge: 60 } } }),
    ]);
  });

  it("reads state queries and refuses malformed ones", () => {
    expect(parseStateQueries([{ name: "spent_today", type: "counter", key: ["spend", "u"], window: "day" }])).toEqual([
      { name: "spent_today", type: "counter", key: ["spend", "u"], window: { kind: "calendar", unit: "day" } },
    ]);
    expect(parseStateQueries(undefined)).toEqual([]);
    for (const bad of [
      [{ name: "Spent", type: "counter", key: ["k"], window: "day" }],
      [{ name: "a", type: "sum", key: ["k"], window: "day" }],
      [{ name: "a", type: "counter", key: [{ $ne: 1 }], window: "day" }],
      [{ name: "a", type: "counter", key: ["k"], window: "sliding:0" }],
      [
        { name: "a", type: "counter", key: ["k"], window: "day" },
        { name: "a", type: "counter", key: ["k"], window: "day" },
      ],
    ]) {
      expect(() => parseStateQueries(bad)).toThrow(PolicyError);
    }
  });

  it("reads the rules that fired", () => {
    const hit = { kind: "deny", rule: "transactions.per_transaction", code: "limit_exceeded", message: "too much" };
    expect(parseDecision({ effect: "deny", reasons: [{ code: "limit_exceeded" }], explain: [hit] }).explain).toEqual([hit]);
  });

  it("reads a step-up with acr_values and max_age", () => {
    const decision = parseDecision({
      effect: "step_up",
      reasons: [{ code: "step_up_required", message: "m" }],
      step_up: { acr_values: ["mfa"], max_age: 300 },
    });
    expect(decision.stepUp).toEqual({ acrValues: ["mfa"], maxAge: 300 });
  });

  it("reads a step-up asking for a person's approval, with its defaults", () => {
    const decision = parseDecision({
      effect: "step_up",
      reasons: [{ code: "approval_required" }],
      approval: { fields: ["destination", "amount", "amount"] },
      obligations: [reserve],
    });
    expect(decision.stepUp).toBeUndefined();
    expect(decision.approval).toEqual({
      fields: ["amount", "destination"],
      expiresInSeconds: 600,
      acrValues: [],
      scopes: [],
      approvers: [],
      authorizationDetails: [],
    });
    expect(decision.obligations).toHaveLength(1);
  });

  it("reads every field of an approval, and a deny's RFC 9396 authorization details", () => {
    const details = [{ type: "payment_initiation", instructedAmount: { currency: "EUR", amount: "10" } }];
    const approval = {
      fields: ["amount"],
      expires_in: 60,
      acr_values: ["mfa"],
      max_age: 300,
      scopes: ["payments:write", "accounts:read", "payments:write"],
      approvers: [{ issuer: "https://login.example", subject: "lead" }],
      authorization_details: details,
    };
    expect(parseDecision({ effect: "step_up", reasons: [{ code: "x" }], approval }).approval).toEqual({
      fields: ["amount"],
      expiresInSeconds: 60,
      acrValues: ["mfa"],
      maxAge: 300,
      scopes: ["accounts:read", "payments:write"],
      approvers: [{ issuer: "https://login.example", subject: "lead" }],
      authorizationDetails: details,
    });
    expect(parseDecision({ effect: "deny", reasons: [{ code: "x" }], required_authorization_details: details }).requiredAuthorizationDetails).toEqual(details);
  });

  it.each([
    ["an approval that is not an object", { effect: "step_up", reasons: [{ code: "x" }], approval: "yes" }],
    ["an approval field that is not a name", { effect: "step_up", reasons: [{ code: "x" }], approval: { fields: ["$where"] } }],
    [
      "an approval of more than 16 fields",
      { effect: "step_up", reasons: [{ code: "x" }], approval: { fields: Array.from({ length: 17 }, (_, i) => `f${i}`) } },
    ],
    ["an approval expiring after a day", { effect: "step_up", reasons: [{ code: "x" }], approval: { expires_in: 86_401 } }],
    ["an approval expiring at once", { effect: "step_up", reasons: [{ code: "x" }], approval: { expires_in: 0 } }],
    ["an approver without a subject", { effect: "step_up", reasons: [{ code: "x" }], approval: { approvers: [{ issuer: "i" }] } }],
    // a quote would break out of the scope="..." an HTTP refusal names them in
    ["an approval scope that is not a scope-token", { effect: "step_up", reasons: [{ code: "x" }], approval: { scopes: ['a" b'] } }],
    ["an approval scopes that is not a list", { effect: "step_up", reasons: [{ code: "x" }], approval: { scopes: "payments:write" } }],
    [
      "an approval of more than 16 scopes",
      { effect: "step_up", reasons: [{ code: "x" }], approval: { scopes: Array.from({ length: 17 }, (_, i) => `s${i}`) } },
    ],
    ["authorization details without a type", { effect: "deny", reasons: [{ code: "x" }], required_authorization_details: [{ actions: [] }] }],
  ])("refuses %s as a policy error", (_, raw) => {
    expect(() => parseDecision(raw)).toThrow(PolicyError);
  });

  it.each([
    ["undefined", undefined],
    ["a string", "allow"],
    ["an unknown effect", { effect: "permit" }],
    ["a deny without reasons", { effect: "deny", reasons: [] }],
    ["a reason code with spaces", { effect: "deny", reasons: [{ code: "not allowed" }] }],
    ["a step-up without acr_values", { effect: "step_up", reasons: [{ code: "x" }], step_up: {} }],
    ["a negative max_age", { effect: "step_up", reasons: [{ code: "x" }], step_up: { acr_values: ["mfa"], max_age: -1 } }],
    // a whole number to JavaScript, but no int64 of the answer can carry it (the Check would fail INTERNAL)
    ["a max_age past 2^53", { effect: "step_up", reasons: [{ code: "x" }], step_up: { acr_values: ["mfa"], max_age: 1e300 } }],
    ["an unknown obligation", { effect: "allow", obligations: [{ type: "launch" }] }],
    ["a reserve of a negative amount", { effect: "allow", obligations: [{ ...reserve, amount: -5 }] }],
    // 5e-14 against 1000 leaves a float total of 1000 unchanged: any number of them would fit once it is full
    ["a reserve whose amount the limit's precision absorbs", { effect: "allow", obligations: [{ ...reserve, amount: 5e-14 }] }],
    ["a reserve of the smallest number", { effect: "allow", obligations: [{ ...reserve, amount: 5e-324 }] }],
    ["a reserve with an object in its key", { effect: "allow", obligations: [{ ...reserve, key: [{ $gt: "" }] }] }],
    ["a reserve with an empty key", { effect: "allow", obligations: [{ ...reserve, key: [] }] }],
    ["a reserve with an unknown window", { effect: "allow", obligations: [{ ...reserve, window: "fortnight" }] }],
    ["a sliding window over a day", { effect: "allow", obligations: [{ ...reserve, window: "sliding:86401" }] }],
    ["a rate with a fractional limit", { effect: "allow", obligations: [{ type: "rate", key: ["k"], limit: 1.5, window: "minute" }] }],
    ["a once without expires_at", { effect: "allow", obligations: [{ type: "once", key: ["k"] }] }],
    ["a step-up on failure without acr_values", { effect: "allow", obligations: [{ ...reserve, on_failure: "step_up" }] }],
    ["an unknown on_failure", { effect: "allow", obligations: [{ ...reserve, on_failure: "shrug" }] }],
    ["required_scopes that are not strings", { effect: "deny", reasons: [{ code: "x" }], required_scopes: [1] }],
    ["explain that is not an array", { effect: "allow", explain: {} }],
    ["an explain entry of an unknown kind", { effect: "allow", explain: [{ kind: "maybe", rule: "a.b", code: "x" }] }],
    ["an explain entry without a rule", { effect: "allow", explain: [{ kind: "deny", code: "x" }] }],
    ["an explain entry whose rule has spaces", { effect: "allow", explain: [{ kind: "deny", rule: "a rule", code: "x" }] }],
    ["an explain of more than 256 entries", { effect: "allow", explain: Array.from({ length: 257 }, () => ({ kind: "deny", rule: "a.b", code: "x" })) }],
  ])("refuses %s as a policy error", (_, raw) => {
    expect(() => parseDecision(raw)).toThrow(PolicyError);
  });
});

describe("reserve amounts", () => {
  it("refuses a limit past 2^53 - 1, where whole amounts no longer add up exactly and a total would round down", () => {
    for (const amount of [1, 5]) {
      expect(parseDecision({ effect: "allow", obligations: [{ ...reserve, limit: Number.MAX_SAFE_INTEGER, amount }] }).obligations[0]).toMatchObject({
        amount,
        limit: Number.MAX_SAFE_INTEGER,
      });
    }
    expect(() => parseDecision({ effect: "allow", obligations: [{ ...reserve, limit: 2 ** 54, amount: 5 }] })).toThrow(
      /decision\.obligations\[0\]\.limit must be at most 9007199254740991/,
    );
  });

  it("takes a fractional amount the limit can count, and refuses one its precision absorbs, naming why", () => {
    expect(parseDecision({ effect: "allow", obligations: [{ ...reserve, amount: 0.01 }] }).obligations[0]).toMatchObject({ amount: 0.01, limit: 1000 });
    expect(() => parseDecision({ effect: "allow", obligations: [{ ...reserve, amount: 1e-13 }] })).toThrow(
      /decision\.obligations\[0\]\.amount must be large enough to count against limit 1000/,
    );
  });
});

describe("explain entries of obligations", () => {
  const hit = (extra: Record<string, unknown>) => ({ kind: "obligation", rule: "transactions.daily_per_user", code: "reserve", ...extra });

  it("are worded by the obligation's type when they carry the obligation", () => {
    const decision = parseDecision({ effect: "allow", obligations: [reserve], explain: [hit({ obligation: reserve })] });
    expect(decision.explain).toEqual([
      { kind: "obligation", rule: "transactions.daily_per_user", code: "reserve", message: "reserve 100 against a limit of 1000 per day on payments/user-1" },
    ]);
    const rate = { type: "rate", key: ["rate", "agent", "a-1"], limit: 120, window: "sliding:60" };
    const once = { type: "once", key: ["jti", "j-1"], expires_at: 1_800_000_000 };
    expect(
      parseDecision({
        effect: "deny",
        reasons: [{ code: "x" }],
        explain: [hit({ code: "rate", obligation: rate }), hit({ code: "once", obligation: once })],
      }).explain.map((h) => h.message),
    ).toEqual(["count this request against a limit of 120 per sliding:60 on rate/agent/a-1", "use jti/j-1 once, until 1800000000 (and 60 s of clock skew)"]);
  });

  it("keep a message the policy gives", () => {
    expect(parseDecision({ effect: "allow", explain: [hit({ obligation: reserve, message: "the policy's own words" })] }).explain[0]?.message).toBe(
      "the policy's own words",
    );
  });

  it("refuse an obligation that does not fit, naming where it is and the rule", () => {
    const parse = () => parseDecision({ effect: "allow", explain: [hit({ obligation: { ...reserve, amount: 0 } })] });
    expect(parse).toThrow(
      new PolicyError("rule transactions.daily_per_user: decision.explain[0].obligation.amount must be a positive number", "transactions.daily_per_user"),
    );
    let error: unknown;
    try {
      parse();
    } catch (thrown) {
      error = thrown;
    }
    expect((error as PolicyError).rule).toBe("transactions.daily_per_user");
  });

  it("name the rule of an invalid obligation from the explain entry that carries it, not its index", () => {
    const { window: _window, ...windowless } = reserve;
    const parse = () => parseDecision({ effect: "allow", obligations: [windowless], explain: [hit({ obligation: windowless })] });
    expect(parse).toThrow(/^rule transactions\.daily_per_user: decision\.obligations\[0\]\.window must be minute/);
  });
});

describe("the obligation registry", () => {
  it("names its types for messages, refuses a type registered twice, and knows only its own", () => {
    expect(defaultObligations.names()).toBe("reserve, rate, once or suspend");
    expect(() => new ObligationRegistry([...OBLIGATION_TYPES, OBLIGATION_TYPES[0] as ObligationType])).toThrow(/registered twice/);
    expect(defaultObligations.find("launch")).toBeUndefined();
    expect(() => defaultObligations.get("launch")).toThrow(/not registered/);
    expect(defaultObligations.summary(parseDecision({ effect: "allow", obligations: [reserve] }).obligations[0] as ObligationBase)).toEqual({
      type: "reserve",
      key: ["payments", "user-1"],
      amount: 100,
      limit: 1000,
      window: "day",
    });
  });
});
