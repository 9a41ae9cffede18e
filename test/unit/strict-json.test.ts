import { describe, expect, it } from "vitest";
import { DuplicateMemberError, parseStrictJson } from "../../src/token/index.js";

describe("strict JSON for JOSE headers and claims", () => {
  it("parses like JSON.parse when no member repeats", () => {
    const text = '{"a":1,"b":{"a":2,"c":[{"a":3},{"a":4}]},"s":"{\\"a\\":5,\\"a\\":6}"}';
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  it.each([
    ['{"sub":"alice","sub":"admin"}', "sub"],
    ['{"x":{"scope":"a","scope":"b"}}', "scope"],
    ['{"x":[{"k":1,"k":2}]}', "k"],
    ['{"a\\u0062":1,"ab":2}', "ab"],
  ])("finds the repeated member in %s", (text, member) => {
    expect(() => parseStrictJson(text)).toThrow(DuplicateMemberError);
    try {
      parseStrictJson(text);
    } catch (error) {
      expect((error as DuplicateMemberError).member).toBe(member);
    }
  });

  it("does not mistake the same name in sibling objects or in string values for a repeat", () => {
    expect(() => parseStrictJson('{"a":{"k":1},"b":{"k":2},"c":"\\"k\\":1,\\"k\\":2"}')).not.toThrow();
  });

  it("still rejects text that is not JSON", () => {
    expect(() => parseStrictJson("{bad")).toThrow(SyntaxError);
  });
});
