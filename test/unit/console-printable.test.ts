// How the console shows values that come from tokens and requests (console/src/printable.ts):
// as the CLI does (src/cli/printable.ts), each control, zero-width or direction character
// replaced by U+FFFD, so that what a person reads, and approves, is what is there.
import { describe, expect, it } from "vitest";
import { chainText } from "../../console/src/chain.js";
import { printable, printableJson } from "../../console/src/printable.js";
import { printable as cliPrintable } from "../../src/cli/printable.js";

/** Every character either printable() replaces, by its ranges. */
const RANGES: [number, number][] = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x200b, 0x200f],
  [0x2028, 0x202e],
  [0x2066, 0x2069],
];
const replaced = RANGES.flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i))).join("");
/** The characters just outside each range, and others that must pass through as they are. */
const kept = "\u0020~\u00a0\u200a\u2010\u2027\u202f\u2065\u206a\uFEFFaé→ß€😀";

describe("the console's printable text", () => {
  it("replaces exactly the characters the CLI replaces: the two character classes match", () => {
    const every = `${kept}${replaced}${kept}`;
    expect(printable(every)).toBe(cliPrintable(every));
    expect(printable(replaced)).toBe("\uFFFD".repeat(replaced.length));
    expect(printable(kept)).toBe(kept);
    // One character at a time too, so a range the two draw differently shows which character.
    for (const c of `${replaced}${kept}`) expect(printable(c), `U+${c.charCodeAt(0).toString(16)}`).toBe(cliPrintable(c));
  });

  it('shows a right-to-left override as U+FFFD, so "\\u202eecila" never reads as "alice"', () => {
    expect(printable("\u202eecila")).toBe("\uFFFDecila");
    expect(printable("acc-\u2066\u200b1\u2069")).toBe("acc-\uFFFD\uFFFD1\uFFFD");
  });

  it("shows JSON printable: JSON.stringify escapes C0 controls but not a direction override or a line separator", () => {
    const context = { destination: "DE02\u202e3068117", note: "a\u2028b\u0085c", amount: 150 };
    expect(JSON.stringify(context)).toContain("\u202e");
    const shown = printableJson(context);
    expect(shown).toBe('{"destination":"DE02\uFFFD3068117","note":"a\uFFFDb\uFFFDc","amount":150}');
    // Indented, its lines are kept: only the values' characters are replaced.
    const indented = printableJson({ ...context, lines: "one\ntwo" }, 2);
    expect(indented.split("\n")).toEqual([
      "{",
      '  "destination": "DE02\uFFFD3068117",',
      '  "note": "a\uFFFDb\uFFFDc",',
      '  "amount": 150,',
      '  "lines": "one\\ntwo"',
      "}",
    ]);
  });

  it("shows each actor of a chain printable: subject, issuer and client_id", () => {
    const shown = chainText([{ subject: "\u202eecila", iss: "https://idp\u200b.example", client_id: "agent\u20667" }]);
    expect(shown).toBe("\uFFFDecila (https://idp\uFFFD.example) via agent\uFFFD7");
    expect(shown).not.toMatch(/[\u200b-\u200f\u202a-\u202e\u2066-\u2069]/);
  });
});
