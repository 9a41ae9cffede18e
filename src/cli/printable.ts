// What the CLI prints of values that come from tokens and requests (subjects, client
// ids, issuers, context): never a character that moves the cursor, clears the screen
// or reorders the text around it (a right-to-left override makes "alice" of "ecila"),
// so that what a person reads, and approves, is what is there.

// Controls (\p{Cc}), format characters (\p{Cf}: direction marks, embeddings, overrides
// and isolates, zero-width spaces and joiners, the word joiner and invisible operators,
// the Arabic letter mark, the soft hyphen, the byte order mark, tag characters), line
// and paragraph separators, and the characters that show as nothing though Unicode
// does not class them as format: the combining grapheme joiner, the Hangul fillers
// (the Mongolian vowel separator too, a format character only since Unicode 6.3); the
// unassigned tag code points too. ZWNJ and ZWJ
// (U+200C, U+200D) are format characters and are replaced as well: a Persian name's
// ZWNJ or an emoji ZWJ sequence shows U+FFFD, as identifiers and amounts must read as
// they are.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u034F\u115F\u1160\u180E\u3164\u{E0000}-\u{E007F}]/gu;

/** `text` with each control, format (zero-width, invisible or direction) character replaced by U+FFFD. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, "\uFFFD");
}
