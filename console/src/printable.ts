// What the console shows of values that come from tokens and requests (subjects, client
// ids, issuers, resource ids, context, reasons): never a character that reorders or
// hides the text around it (a right-to-left override makes "alice" of "ecila"), so that
// what a person reads, and approves, is what is there. JSON.stringify escapes C0
// controls but leaves U+202E and the like as they are, so JSON is shown through it too.
//
// The character class must match src/cli/printable.ts's (the CLI shows the same values
// the same way); test/unit/console-printable.test.ts asserts that it does.

// eslint-disable-next-line no-control-regex -- it looks for control characters, to replace them
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/g;

/** `text` with each control, zero-width or direction character replaced by U+FFFD. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, "\uFFFD");
}

/**
 * `value` as JSON (indented when `indent` is given), printable. JSON.stringify escapes every C0
 * control inside a string, so a line break left in its text is the indentation's, and is kept.
 */
export function printableJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).split("\n").map(printable).join("\n");
}
