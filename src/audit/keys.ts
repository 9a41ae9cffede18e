// Context and resource attributes come from the caller, and their keys can be
// anything: "$where", "a.b", "__proto__". Stored as they are, such keys would read
// as operators or field paths to MongoDB (and to anyone querying the trail), so
// every key is escaped before a record is written and unescaped when it is read.
import type { JsonObject, JsonValue } from "@verdict/sdk/wire";

// "%" first, so that an escaped key never contains a bare "." or "$" and decoding
// is unambiguous.
const ESCAPES: Record<string, string> = { "%": "%25", ".": "%2E", $: "%24" };
const UNESCAPES: Record<string, string> = { "%25": "%", "%2E": ".", "%24": "$" };

export function escapeKey(key: string): string {
  return /[%.$]/.test(key) ? key.replace(/[%.$]/g, (c) => ESCAPES[c] as string) : key;
}

export function unescapeKey(key: string): string {
  return key.includes("%") ? key.replace(/%(25|2E|24)/g, (m) => UNESCAPES[m] as string) : key;
}

/** A copy of `object` with every key, at every depth, unescaped. */
export function unescapeObject(object: JsonObject): JsonObject {
  return mapKeys(object, unescapeKey) as JsonObject;
}

function mapKeys(value: JsonValue, map: (key: string) => string): JsonValue {
  if (Array.isArray(value)) return value.map((item) => mapKeys(item, map));
  if (value === null || typeof value !== "object") return value;
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) setOwn(out, map(key), mapKeys(item, map));
  return out;
}

/** Sets an own property, whatever the key ("__proto__" included). */
export function setOwn(object: JsonObject, key: string, value: JsonValue): void {
  if (key === "__proto__") Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  else object[key] = value;
}
