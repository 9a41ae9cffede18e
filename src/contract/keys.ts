// Keys of state documents are built from a policy's key parts (validated strings).
// The result is only ever used as a value (_id, key), never as a field name or
// operator, and each part is escaped so that parts cannot run into each other.

/** The parts, escaped and joined: what a decision shows as the key, and the base of every stored id. */
export function storageKey(parts: readonly string[]): string {
  return parts.map((part) => encodeURIComponent(part)).join("/");
}
