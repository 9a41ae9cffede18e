// What the CLI prints of values that come from tokens and requests (subjects, client
// ids, issuers, context): never a character that moves the cursor, clears the screen
// or reorders the text around it (a right-to-left override makes "alice" of "ecila"),
// so that what a person reads, and approves, is what is there.

// eslint-disable-next-line no-control-regex -- it looks for control characters, to replace them
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/g;

/** `text` with each control, zero-width or direction character replaced by U+FFFD. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, "\uFFFD");
}
