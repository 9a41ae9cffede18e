import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { containsCardNumber, MASKED, maskRulesFrom, MaskRuleError, redactObject, redactResourceId, unescapeObject, type MaskRules } from "../../src/audit/index.js";

const rulesOf = (audit: unknown): MaskRules => maskRulesFrom({ settings: { audit } });
const context = (rules: MaskRules, value: Record<string, never> | object) =>
  unescapeObject(redactObject(value as never, rules.context, rules.detectCardNumbers));
const attributes = (rules: MaskRules, value: object) => unescapeObject(redactObject(value as never, rules.attributes, rules.detectCardNumbers));

describe("masking rules from the policy data", () => {
  it("masks the fields named by mask, drops those named by drop, and keeps the rest", () => {
    const rules = rulesOf({ mask: ["context.card_number"], drop: ["context.password"] });
    expect(context(rules, { card_number: "4111 1111 1111 1111", password: "hunter2", amount: 10 })).toEqual({ card_number: MASKED, amount: 10 });
  });

  it("applies resource.attributes paths to the resource's attributes only", () => {
    const rules = rulesOf({ mask: ["resource.attributes.email"] });
    expect(attributes(rules, { email: "a@example.com", owner: "bob" })).toEqual({ email: MASKED, owner: "bob" });
    expect(context(rules, { email: "a@example.com" })).toEqual({ email: "a@example.com" });
  });

  it("matches ** at any depth, through arrays", () => {
    const rules = rulesOf({ mask: ["context.**.iban"] });
    expect(context(rules, { iban: "DE1", payee: { iban: "DE2", name: "n" }, lines: [{ to: { iban: "DE3" } }, { note: "x" }] })).toEqual({
      iban: MASKED,
      payee: { iban: MASKED, name: "n" },
      lines: [{ to: { iban: MASKED } }, { note: "x" }],
    });
  });

  it("matches ** in the middle of a path only below its prefix", () => {
    const rules = rulesOf({ mask: ["context.payer.**.iban"] });
    expect(context(rules, { iban: "DE1", payer: { iban: "DE2", bank: { iban: "DE3" } }, payee: { iban: "DE4" } })).toEqual({
      iban: "DE1",
      payer: { iban: MASKED, bank: { iban: MASKED } },
      payee: { iban: "DE4" },
    });
  });

  it("matches * as exactly one key", () => {
    const rules = rulesOf({ drop: ["context.*.secret"] });
    expect(context(rules, { secret: 1, a: { secret: 2, keep: 3 }, b: { c: { secret: 4 } } })).toEqual({ secret: 1, a: { keep: 3 }, b: { c: { secret: 4 } } });
  });

  it("matches keys without regard to case", () => {
    const rules = rulesOf({ mask: ["context.Card_Number"] });
    expect(context(rules, { CARD_NUMBER: "x", card_number: "y" })).toEqual({ CARD_NUMBER: MASKED, card_number: MASKED });
  });

  it("lets drop win when a field is named by both", () => {
    const rules = rulesOf({ mask: ["context.**.pin"], drop: ["context.card.pin"] });
    expect(context(rules, { card: { pin: "1234" }, other: { pin: "9" } })).toEqual({ card: {}, other: { pin: MASKED } });
  });

  it("masks a whole object value, not only leaves", () => {
    const rules = rulesOf({ mask: ["context.payer"] });
    expect(context(rules, { payer: { name: "n", iban: "DE" } })).toEqual({ payer: MASKED });
  });

  it("masks or drops the resource id when told to", () => {
    expect(redactResourceId("alice@example.com", rulesOf({ mask: ["resource.id"] }))).toBe(MASKED);
    expect(redactResourceId("alice@example.com", rulesOf({ drop: ["resource.id"] }))).toBe("");
    expect(redactResourceId("inv-1", rulesOf({ mask: ["context.x"] }))).toBe("inv-1");
  });

  it("masks nothing when the policy data has no settings.audit", () => {
    const rules = maskRulesFrom({ settings: {} });
    expect(context(rules, { card_number: "4111111111111111" })).toEqual({ card_number: "4111111111111111" });
  });

  it.each([
    ["settings that are not an object", [], /must be an object/],
    ["an unknown key", { hide: [] }, /unknown key hide/],
    ["paths that are not a list of strings", { mask: "context.a" }, /mask must be a list of strings/],
    ["a path outside context and resource.attributes", { mask: ["principal.subject"] }, /must start with context\./],
    ["an empty segment", { drop: ["context..a"] }, /non-empty segments/],
    ["an unknown detector", { detect: ["ssn"] }, /unknown detector ssn/],
  ])("refuses %s with a MaskRuleError naming it", (_, audit, message) => {
    expect(() => rulesOf(audit)).toThrow(MaskRuleError);
    expect(() => rulesOf(audit)).toThrow(message);
  });
});

describe("card number detection", () => {
  it("masks a Luhn-valid card number wherever it is, also in free text and with separators", () => {
    const rules = rulesOf({ detect: ["card_number"] });
    expect(context(rules, { note: "pay with 4111-1111-1111-1111 please", nested: [{ memo: "5500 0000 0000 0004" }], amount: 4111111111111111 })).toEqual({
      note: MASKED,
      nested: [{ memo: MASKED }],
      amount: 4111111111111111,
    });
    expect(redactResourceId("card-4111111111111111", rules)).toBe(MASKED);
  });

  it("leaves numbers that are not card numbers alone", () => {
    expect(containsCardNumber("4111111111111112")).toBe(false); // Luhn fails
    expect(containsCardNumber("order 12345678")).toBe(false); // too short
    expect(containsCardNumber("41111111111111111111111")).toBe(false); // part of a longer run of digits
    expect(containsCardNumber("+1 555 0100")).toBe(false);
  });
});

describe("the shipped policy data (policies/data.json)", () => {
  const data = JSON.parse(readFileSync(new URL("../../policies/data.json", import.meta.url), "utf8")) as Record<string, unknown>;
  const rules = maskRulesFrom(data);

  it("drops passwords and CVVs and masks card numbers, IBANs and e-mail addresses by default", () => {
    expect(context(rules, { password: "p", payment: { cvv: "123", card_number: "x", iban: "DE89" }, email: "a@b.example", amount: 5 })).toEqual({
      payment: { card_number: MASKED, iban: MASKED },
      email: MASKED,
      amount: 5,
    });
    expect(attributes(rules, { owner: { email: "o@b.example" }, status: "open" })).toEqual({ owner: { email: MASKED }, status: "open" });
    expect(rules.detectCardNumbers).toBe(true);
  });
});
