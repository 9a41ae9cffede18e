/** A JSON value as it crosses the wire in a google.protobuf.Struct. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * How deep a Struct may nest (objects and arrays). Each JSON level is up to three
 * protobuf messages, and the decoder refuses more than 100: a deeper value would
 * be refused by Verdict as undecodable instead of here, as the caller's mistake.
 */
export const MAX_STRUCT_DEPTH = 32;

/**
 * `value` when it is a JSON object a Struct can carry: nothing but null, booleans,
 * finite numbers, strings, arrays and objects (undefined members are left out on
 * the wire), nested at most MAX_STRUCT_DEPTH levels, without a key `__proto__`
 * (Verdict refuses it, over gRPC as over AuthZEN's JSON). Throws TypeError naming what
 * cannot be sent.
 */
export function jsonObject(value: unknown, where: string): JsonObject {
  if (!isJsonObject(value)) throw new TypeError(`${where} must be a JSON object`);
  const visit = (node: unknown, path: string, depth: number): void => {
    if (node === null || typeof node === "boolean" || typeof node === "string" || node === undefined) return;
    if (typeof node === "number") {
      if (!Number.isFinite(node)) throw new TypeError(`${path}: numbers must be finite`);
      return;
    }
    if (typeof node === "object" && depth > MAX_STRUCT_DEPTH) throw new TypeError(`${path}: a Struct nests at most ${MAX_STRUCT_DEPTH} levels`);
    if (Array.isArray(node)) return node.forEach((item, i) => visit(item, `${path}[${i}]`, depth + 1));
    if (typeof node === "object") {
      return Object.entries(node).forEach(([key, item]) => {
        if (key === "__proto__") throw new TypeError(`${path}: the key __proto__ is not accepted by Verdict`);
        visit(item, `${path}.${key}`, depth + 1);
      });
    }
    throw new TypeError(`${path}: a ${typeof node} cannot be sent`);
  };
  visit(value, where, 0);
  return value;
}
