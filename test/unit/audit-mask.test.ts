import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  containsCardNumber,
  containsJwtLike,
  MASKED,
  maskRulesFrom,
  MaskRuleError,
  redactObject,
  redactResourceId,
  redactText,
  unescapeObject,
  type MaskRules,
} from "../../src/audit/index.js";

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
    expect(context(rules, { note: "pay with 4111-1111-1111-1111 please", nested: [{ memo: "5500 0000 0000 0004" }], amount: 12.5 })).toEqual({
      note: MASKED,
      nested: [{ memo: MASKED }],
      amount: 12.5,
    });
    expect(redactResourceId("card-4111111111111111", rules)).toBe(MASKED);
  });

  it("masks a card number sent as a JSON number, but not an ordinary number", () => {
    const rules = rulesOf({ detect: ["card_number"] });
    expect(context(rules, { pan: 4111111111111111, list: [5500000000000004], n: 4111111111111112, big: 1e300, id: 1234567, ts: 1_700_000_000_000 })).toEqual({
      pan: MASKED,
      list: [MASKED],
      n: 4111111111111112,
      big: 1e300,
      id: 1234567,
      ts: 1_700_000_000_000,
    });
  });

  it.each([
    ["dots", "4111.1111.1111.1111"],
    ["double spaces", "4111  1111  1111  1111"],
    ["slashes", "4111/1111/1111/1111"],
    ["a dash between spaces", "4111 - 1111 - 1111 - 1111"],
    ["underscores", "4111_1111_1111_1111"],
    ["full-width digits", "４１１１ １１１１ １１１１ １１１１"],
    ["full-width digits and an ideographic space", "４１１１\u3000１１１１\u3000１１１１\u3000１１１１"],
    ["other digits beside it", "ref 12 4111 1111 1111 1111 exp 12/27"],
    ["a tab and a newline", "4111\t1111\n1111 1111"],
  ])("masks a card number written with %s", (_, text) => {
    const rules = rulesOf({ detect: ["card_number"] });
    expect(containsCardNumber(text)).toBe(true);
    expect(context(rules, { note: text })).toEqual({ note: MASKED });
  });

  it("masks a card number used as an object key, keeping keys distinct", () => {
    const rules = rulesOf({ detect: ["card_number"] });
    const masked = context(rules, { "4111111111111111": "visa", "5500 0000 0000 0004": { holder: "x" }, plain: 1 });
    expect(JSON.stringify(masked)).not.toMatch(/4111|5500/);
    expect(masked).toEqual({ [MASKED]: "visa", [`${MASKED}#2`]: { holder: "x" }, plain: 1 });
  });

  it("leaves UUIDs alone: an identifier's digits are not a card number, and a card number beside one is still found", () => {
    // Each of these held a Luhn-valid run of 13 or more digits across its dashes, and was masked.
    for (const uuid of ["0a774a9d-ac7e-4467-9b07-36207689158a", "e3816107-4967-4250-a10d-3d766886fbd1", "25091519-7598-499b-973b-22025bdb2038"]) {
      expect(containsCardNumber(uuid)).toBe(false);
      expect(containsCardNumber(uuid.toUpperCase())).toBe(false);
      expect(redactText(`invoice ${uuid}`, true)).toBe(`invoice ${uuid}`);
      expect(containsCardNumber(`${uuid} 4111 1111 1111 1111`)).toBe(true);
      expect(containsCardNumber(`4111 1111 1111 1111-${uuid}`)).toBe(true);
    }
    // About one random UUID in 360 was masked: none of 20,000 is.
    const masked = Array.from({ length: 20_000 }, () => randomUUID()).filter((uuid) => containsCardNumber(uuid));
    expect(masked).toEqual([]);
  });

  it("leaves numbers that are not card numbers alone", () => {
    expect(containsCardNumber("4111111111111112")).toBe(false); // Luhn fails
    expect(containsCardNumber("order 12345678")).toBe(false); // too short
    expect(containsCardNumber("41111111111111111111111")).toBe(false); // part of a longer run of digits
    expect(containsCardNumber("+1 555 0100")).toBe(false);
  });
});

describe("credentials, masked whatever the rules say", () => {
  const jwt = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";

  it("masks context.authorization, an HTTP credential and a JWT anywhere, even with no rules at all", () => {
    const none = maskRulesFrom({});
    expect(
      context(none, {
        authorization: `Bearer ${jwt}`,
        Authorization: "Basic YWxpY2U6aHVudGVyMg==",
        headers: { "Proxy-Authorization": "anything", forwarded: "DPoP opaque-token-value-123" },
        note: `the agent pasted ${jwt} here`,
        list: [jwt],
        amount: 5,
      }),
    ).toEqual({
      authorization: MASKED,
      Authorization: MASKED,
      headers: { "Proxy-Authorization": MASKED, forwarded: MASKED },
      note: MASKED,
      list: [MASKED],
      amount: 5,
    });
  });

  it("masks a JWT used as a key, in the resource id and in free text", () => {
    const none = maskRulesFrom({});
    expect(JSON.stringify(context(none, { [jwt]: 1 }))).not.toContain("eyJ");
    expect(redactResourceId(`session/${jwt}`, none)).toBe(MASKED);
    expect(redactText(jwt, false)).toBe(MASKED);
    expect(redactText("req-42", true)).toBe("req-42");
    expect(redactText("card-4111111111111111", true)).toBe(MASKED);
  });

  it("finds exactly what the JWT regex it replaces found, on every short text and on generated and adversarial ones", () => {
    // The regex masking used before (quadratic on runs of "eyJ"): the reference, kept here only.
    const JWT_REGEX = /eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/;
    const pieces = ["eyJ", "eyJab", "e", "J", "a", "0", "-", "_", ".", "..", " ", "/", "é", "\u{1F600}"];
    const texts: string[] = [];
    // Every text of up to 6 pieces from a smaller alphabet (56,000 texts)...
    const small = ["eyJ", "a", "-", ".", " ", "J"];
    let layer = [""];
    for (let length = 1; length <= 6; length++) {
      layer = layer.flatMap((text) => small.map((piece) => text + piece));
      texts.push(...layer);
    }
    // ...random ones from all the pieces (seeded: the same texts on every run)...
    let seed = 0x9e3779b9;
    const random = (below: number) => {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return seed % below;
    };
    for (let i = 0; i < 20_000; i++) {
      texts.push(Array.from({ length: random(40) }, () => pieces[random(pieces.length)]).join(""));
    }
    // ...and runs of "eyJ" with dots, separators and JWTs at their edges.
    for (const run of ["eyJ", "eyJ".repeat(2), "eyJ".repeat(50), "eyJ-".repeat(30), "eyJa".repeat(20)]) {
      for (const [before, after] of [
        ["", ""],
        ["", "."],
        ["", ".."],
        ["", ".x"],
        ["", ".x."],
        ["", "..x"],
        [".", ".."],
        ["x", ".a.b"],
        ["eyJ", "."],
        ["a.", "."],
        [" ", ". ."],
        ["eyJab.", "."],
        ["eyJab..", ""],
        ["eyJa.", ".."],
        [`${jwt} `, ""],
      ]) {
        texts.push(before + run + after, before + run + after + run, run + before + run + after);
      }
    }
    const disagree = texts.filter((text) => containsJwtLike(text) !== JWT_REGEX.test(text));
    expect(disagree).toEqual([]);
    const found = texts.filter((text) => JWT_REGEX.test(text)).length;
    expect(found).toBeGreaterThan(2_000); // both answers well represented
    expect(texts.length - found).toBeGreaterThan(2_000);
  });

  it("reads a long run of eyJ in the context, a key or the resource id in linear time (well under a second for 120 KB)", () => {
    // The regex took about 20 s for these three (quadratic: each "eyJ" scanned to the end
    // of its run). A generous bound, for a busy machine: the linear scan takes milliseconds.
    const run = "eyJ".repeat(40_000);
    const none = maskRulesFrom({});
    const started = performance.now();
    const masked = context(none, { note: run, [`${run}-`]: 1 });
    const id = redactResourceId(run, none);
    const elapsed = performance.now() - started;
    expect(masked).toEqual({ note: run, [`${run}-`]: 1 }); // no JWT in it: kept as sent
    expect(id).toBe(run);
    expect(containsJwtLike(`${run}.x.`)).toBe(true);
    expect(elapsed).toBeLessThan(1_000);
  });

  it("reads long adversarial text for HTTP credentials and card numbers in linear time too (well under a second for 1.2 MB)", () => {
    // These patterns were linear already (anchored, or without overlapping repeats): a guard, with the same generous bound.
    const size = 120_000;
    const texts = [
      " ".repeat(size),
      `bearer${" ".repeat(size)}x`,
      `${"\t\n".repeat(size / 2)}Bearer`,
      "1 ".repeat(size / 2),
      "1    ".repeat(size / 5),
      "1.-_/".repeat(size / 5),
      `${"1".repeat(size)}x`,
      `${"0".repeat(size)}-`,
      "00000000-0000-0000-0000-".repeat(size / 24),
      "１ ".repeat(size / 2),
    ];
    const started = performance.now();
    for (const text of texts) redactText(text, true);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("leaves ordinary words that follow a scheme name alone", () => {
    const none = maskRulesFrom({});
    expect(context(none, { note: "bearer of bad news", scheme: "Basic" })).toEqual({ note: "bearer of bad news", scheme: "Basic" });
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
