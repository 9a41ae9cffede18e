/** A JSON value as it crosses the wire in a google.protobuf.Struct. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * `value` when it is a JSON object a Struct can carry: nothing but null, booleans,
 * finite numbers, strings, arrays and objects (undefined members are left out on
 * the wire). Throws TypeError naming what cannot be sent.
 */
export function jsonObject(value: unknown, where: string): JsonObject {
  if (!isJsonObject(value)) throw new TypeError(`${where} must be a JSON object`);
  const visit = (node: unknown, path: string): void => {
    if (node === null || typeof node === "boolean" || typeof node === "string" || node === undefined) return;
    if (typeof node === "number") {
      if (!Number.isFinite(node)) throw new TypeError(`${path}: numbers must be finite`);
      return;
    }
    if (Array.isArray(node)) return node.forEach((item, i) => visit(item, `${path}[${i}]`));
    if (typeof node === "object") return Object.entries(node).forEach(([key, item]) => visit(item, `${path}.${key}`));
    throw new TypeError(`${path}: a ${typeof node} cannot be sent`);
  };
  visit(value, where);
  return value;
}
