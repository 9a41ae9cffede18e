// google.protobuf.Struct <-> plain JSON, for messages loaded with PROTO_OPTIONS
// (oneofs: true gives every Value a `kind` naming the field that is set). The
// well-known types come from protobufjs's own definitions, whose field names are
// camelCase even with keepCase: true.
import { isJsonObject, type JsonObject, type JsonValue } from "./json.js";

export interface StructMessage {
  fields?: Record<string, ValueMessage> | null;
}

export interface ValueMessage {
  kind?: string | null;
  nullValue?: unknown;
  numberValue?: number | null;
  stringValue?: string | null;
  boolValue?: boolean | null;
  structValue?: StructMessage | null;
  listValue?: { values?: ValueMessage[] | null } | null;
}

/**
 * How deep a Struct may nest. Each JSON level is up to three protobuf messages, and
 * protobuf refuses more than 100: deeper values would fail to serialize (gRPC
 * INTERNAL) instead of being refused as the caller's mistake.
 */
export const MAX_STRUCT_DEPTH = 32;

/** Encodes a JSON object as a Struct message. Throws TypeError for values JSON cannot carry, or nested deeper than MAX_STRUCT_DEPTH. */
export function toStruct(object: JsonObject, depth = 0): StructMessage {
  if (!isJsonObject(object)) throw new TypeError("a Struct must be built from a JSON object");
  if (depth > MAX_STRUCT_DEPTH) throw new TypeError(`a Struct nests at most ${MAX_STRUCT_DEPTH} levels`);
  const fields: Record<string, ValueMessage> = {};
  for (const [key, value] of Object.entries(object)) {
    if (value === undefined) continue;
    fields[key] = toValue(value, depth + 1);
  }
  return { fields };
}

function toValue(value: JsonValue, depth: number): ValueMessage {
  if (value === null) return { nullValue: "NULL_VALUE" };
  switch (typeof value) {
    case "boolean":
      return { boolValue: value };
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("numbers in a Struct must be finite");
      return { numberValue: value };
    case "string":
      return { stringValue: value };
    case "object":
      if (Array.isArray(value)) {
        if (depth > MAX_STRUCT_DEPTH) throw new TypeError(`a Struct nests at most ${MAX_STRUCT_DEPTH} levels`);
        return { listValue: { values: value.map((item) => toValue(item, depth + 1)) } };
      }
      return { structValue: toStruct(value, depth) };
    default:
      throw new TypeError(`a ${typeof value} cannot be sent in a Struct`);
  }
}

/** Decodes a Struct message into a JSON object; an absent Struct is an empty object. */
export function fromStruct(struct: StructMessage | null | undefined): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) {
    out[key] = fromValue(value);
  }
  return out;
}

const KINDS = ["nullValue", "numberValue", "stringValue", "boolValue", "structValue", "listValue"] as const;

function fromValue(value: ValueMessage): JsonValue {
  // Decoded messages name their kind; messages built in memory (toStruct) do not.
  const kind = value.kind ?? KINDS.find((name) => value[name] !== undefined && value[name] !== null);
  switch (kind) {
    case "nullValue":
      return null;
    case "numberValue":
      return value.numberValue ?? 0;
    case "stringValue":
      return value.stringValue ?? "";
    case "boolValue":
      return value.boolValue ?? false;
    case "structValue":
      return fromStruct(value.structValue);
    case "listValue":
      return value.listValue?.values?.map(fromValue) ?? [];
    default:
      // A Value with no kind set is JSON null (proto3 JSON mapping).
      return null;
  }
}
