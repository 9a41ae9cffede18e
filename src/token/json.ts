// JSON for JOSE headers and claims sets, stricter than JSON.parse: a repeated
// member name is an error (RFC 7515 §5.2, RFC 8725 §3.4) instead of "last wins",
// which would let one part of a system read a different claim than another.
import { VerdictError } from "../errors/index.js";

export class DuplicateMemberError extends VerdictError {
  constructor(readonly member: string) {
    super("json_duplicate_member", `duplicate member name ${JSON.stringify(member)}`);
  }
}

export class InvalidUtf8Error extends VerdictError {
  constructor() {
    super("json_invalid_utf8", "not valid UTF-8");
  }
}

// fatal: a byte sequence that is not UTF-8 throws instead of becoming U+FFFD, which
// would let a signed "\xFF" claim read as another string than the one signed.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The bytes as UTF-8 text (RFC 7519 §7.2, RFC 8259 §8.1); throws InvalidUtf8Error on anything else. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new InvalidUtf8Error();
  }
}

/** JSON.parse, but throws DuplicateMemberError when any object repeats a member name. */
export function parseStrictJson(text: string): unknown {
  const value: unknown = JSON.parse(text); // rejects malformed JSON first
  assertNoDuplicateMembers(text);
  return value;
}

/** Scans well-formed JSON text and throws on the first object that repeats a member name. */
function assertNoDuplicateMembers(text: string): void {
  // Each open object has the set of names seen so far; arrays push null.
  const stack: (Set<string> | null)[] = [];
  let expectingName = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      const end = endOfString(text, i);
      const top = stack[stack.length - 1];
      if (expectingName && top) {
        const name = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.has(name)) throw new DuplicateMemberError(name);
        top.add(name);
        expectingName = false;
      }
      i = end + 1;
      continue;
    }
    if (ch === "{") {
      stack.push(new Set());
      expectingName = true;
    } else if (ch === "[") {
      stack.push(null);
      expectingName = false;
    } else if (ch === "}" || ch === "]") {
      stack.pop();
      expectingName = false;
    } else if (ch === ",") {
      expectingName = stack[stack.length - 1] instanceof Set;
    }
    i += 1;
  }
}

function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === "\\") i += 2;
    else if (text[i] === '"') return i;
    else i += 1;
  }
  return i;
}
