// Bounds on the free-form objects AuthZEN carries (properties, context), the same
// as the gRPC edge's (src/server/validate.ts LIMITS): a directory file and an
// AuthZEN request are held to what a Check may carry.
import type { JsonObject } from "@verdict/sdk/wire";
import { VerdictError } from "../errors/index.js";

export const PROPERTY_LIMITS = {
  maxDepth: 8,
  maxNodes: 2_000,
  maxKeyLength: 256,
  maxStringLength: 8_192,
} as const;

// eslint-disable-next-line no-control-regex -- it looks for control characters, to refuse them
const CONTROL = /[\u0000-\u001f\u007f]/;

export class PropertiesError extends VerdictError {
  constructor(message: string) {
    super("properties_invalid", message);
  }
}

/**
 * The value as a JSON object, or a PropertiesError naming what is out of bounds:
 * too deep, too many values, over-long strings or keys, keys with control
 * characters, and `__proto__` (refused rather than risk a merge that sets a prototype).
 */
export function boundedObject(value: unknown, where: string): JsonObject {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new PropertiesError(`${where} must be an object`);
  let nodes = 0;
  const visit = (node: unknown, path: string, depth: number): void => {
    if (++nodes > PROPERTY_LIMITS.maxNodes) throw new PropertiesError(`${where} has more than ${PROPERTY_LIMITS.maxNodes} values`);
    if (depth > PROPERTY_LIMITS.maxDepth) throw new PropertiesError(`${where} is nested deeper than ${PROPERTY_LIMITS.maxDepth} levels (at ${path})`);
    if (typeof node === "string") {
      if (node.length > PROPERTY_LIMITS.maxStringLength) throw new PropertiesError(`${path} is longer than ${PROPERTY_LIMITS.maxStringLength} characters`);
    } else if (typeof node === "number") {
      if (!Number.isFinite(node)) throw new PropertiesError(`${path} is not a finite number`);
    } else if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, `${path}[${i}]`, depth + 1));
    } else if (node !== null && typeof node === "object") {
      for (const [key, item] of Object.entries(node)) {
        if (key.length === 0 || key.length > PROPERTY_LIMITS.maxKeyLength || CONTROL.test(key) || key === "__proto__") {
          throw new PropertiesError(
            `${path} has a key that is empty, __proto__, longer than ${PROPERTY_LIMITS.maxKeyLength} characters or has control characters`,
          );
        }
        visit(item, `${path}.${key}`, depth + 1);
      }
    } else if (typeof node !== "boolean" && node !== null) {
      throw new PropertiesError(`${path} is not a JSON value`);
    }
  };
  visit(value, where, 0);
  return value as JsonObject;
}

/** Stored properties under the request's: a key the request sends wins, whole (no deep merge). */
export function mergeProperties(stored: JsonObject | undefined, sent: JsonObject | undefined): JsonObject {
  return { ...(stored ?? {}), ...(sent ?? {}) };
}
