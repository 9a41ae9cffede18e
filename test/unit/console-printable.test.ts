// How the console shows values that come from tokens and requests (console/src/printable.ts):
// as the CLI does (src/cli/printable.ts), each control, format (zero-width, invisible or
// direction) character replaced by U+FFFD, so that what a person reads, and approves, is what
// is there.
import { describe, expect, it } from "vitest";
import { chainActors } from "../../console/src/chain.js";
import { printable, printableJson } from "../../console/src/printable.js";
import { printable as cliPrintable } from "../../src/cli/printable.js";

/**
 * Every such character, by its ranges: controls, the soft hyphen, the combining grapheme joiner,
 * the Arabic letter mark, the Hangul fillers, the Mongolian vowel separator, zero-width spaces,
 * joiners and direction marks, line and paragraph separators, embeddings and overrides, the word
 * joiner and invisible operators, isolates, the deprecated format characters, the byte order
 * mark, the tag characters.
 */
const RANGES: [number, number][] = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x061c, 0x061c],
  [0x115f, 0x1160],
  [0x180e, 0x180e],
  [0x200b, 0x200f],
  [0x2028, 0x202e],
  [0x2060, 0x2064],
  [0x2066, 0x206f],
  [0x3164, 0x3164],
  [0xfeff, 0xfeff],
  [0xe0000, 0xe007f],
];
const replaced = RANGES.flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, i) => String.fromCodePoint(from + i)));
/** The characters just outside each range, and others that must pass through as they are. */
const kept =
  "\u0020~\u00a0\u00ac\u00ae\u034e\u0350\u061b\u061d\u115e\u1161\u180d\u180f\u200a\u2010\u2027\u202f\u205f\u2065\u2070\u3163\u3165\uFEFE\uFF00\u{DFFFF}\u{E0080}aé→ß€😀";

describe("the console's printable text", () => {
  it("replaces exactly the characters the CLI replaces: the two character classes match", () => {
    const every = `${kept}${replaced.join("")}${kept}`;
    expect(printable(every)).toBe(cliPrintable(every));
    // Each one character, a tag character too (two UTF-16 units): one U+FFFD each.
    expect(printable(replaced.join(""))).toBe("\uFFFD".repeat(replaced.length));
    expect(printable(kept)).toBe(kept);
    // One character at a time too, so a range the two draw differently shows which character.
    for (const c of [...replaced, ...kept]) expect(printable(c), `U+${c.codePointAt(0)?.toString(16)}`).toBe(cliPrintable(c));
    for (const c of replaced) expect(printable(c), `U+${c.codePointAt(0)?.toString(16)}`).toBe("\uFFFD");
  });

  it('shows a right-to-left override as U+FFFD, so "\\u202eecila" never reads as "alice"', () => {
    expect(printable("\u202eecila")).toBe("\uFFFDecila");
    expect(printable("acc-\u2066\u200b1\u2069")).toBe("acc-\uFFFD\uFFFD1\uFFFD");
  });

  it('shows a word joiner, a byte order mark, an Arabic letter mark or a tag character as U+FFFD, so "al\\u2060ice" never reads as "alice"', () => {
    for (const hidden of ["\u2060", "\uFEFF", "\u061C", "\u{E0041}", "\u{E007F}"]) {
      expect(printable(`al${hidden}ice`)).toBe("al\uFFFDice");
      expect(cliPrintable(`al${hidden}ice`)).toBe("al\uFFFDice");
    }
  });

  it("replaces ZWNJ and ZWJ too (the trade-off): a Persian name's ZWNJ or an emoji ZWJ sequence shows U+FFFD", () => {
    expect(printable("\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645")).toBe("\u0645\u06CC\uFFFD\u062E\u0648\u0627\u0647\u0645");
    expect(printable("👩\u200D💻")).toBe("👩\uFFFD💻");
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

  it("shows each actor of a chain printable, each value on its own (the page isolates each in a <bdi>): subject, issuer and client_id", () => {
    const shown = chainActors([
      { subject: "\u202eecila", iss: "https://idp\u200b.example", client_id: "agent\u20667" },
      { subject: "\u05D3\u05E0\u05D4\u2060", client_id: "" },
    ]);
    expect(shown).toEqual([{ subject: "\uFFFDecila", iss: "https://idp\uFFFD.example", client_id: "agent\uFFFD7" }, { subject: "\u05D3\u05E0\u05D4\uFFFD" }]);
    expect(chainActors([])).toEqual([]);
  });
});
