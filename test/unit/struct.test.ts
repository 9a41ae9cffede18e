import { describe, expect, it } from "vitest";
import { fromStruct, loadVerdictProto, MAX_STRUCT_DEPTH, toStruct, type JsonObject } from "@verdict/sdk/wire";

// Through the real protobuf serializer, as on the wire.
function roundTrip(context: JsonObject): JsonObject {
  const method = loadVerdictProto().verdict.v1.PolicyDecisionService.service["Check"];
  if (!method) throw new Error("no Check method");
  const bytes = method.requestSerialize({ token: "", action: "a", context: toStruct(context) });
  return fromStruct((method.requestDeserialize(bytes) as { context: never }).context);
}

describe("google.protobuf.Struct codec", () => {
  it("carries every JSON type through the wire unchanged", () => {
    const context = { amount: 100.5, zero: 0, name: "x", empty: "", yes: true, no: false, nothing: null, list: [1, "a", null, { b: [true] }], nested: { deep: { deeper: -1 } } };
    expect(roundTrip(context)).toEqual(context);
  });

  it("keeps keys that look like query operators or paths as plain keys", () => {
    const context = { $gt: "", "a.b": { $where: "1" } };
    expect(roundTrip(context)).toEqual(context);
  });

  it("refuses values JSON cannot carry", () => {
    expect(() => toStruct({ n: Number.NaN } as JsonObject)).toThrow(TypeError);
    expect(() => toStruct({ f: (() => 1) as unknown as JsonObject })).toThrow(TypeError);
    expect(() => toStruct([1] as unknown as JsonObject)).toThrow(TypeError);
  });

  it("refuses to build a Struct nested deeper than protobuf can carry, with a TypeError (not a serialization failure)", () => {
    const nest = (depth: number, inner: JsonObject = { leaf: 1 }) => {
      let value = inner;
      for (let i = 0; i < depth; i++) value = { a: value };
      return value;
    };
    expect(roundTrip(nest(MAX_STRUCT_DEPTH - 1))).toEqual(nest(MAX_STRUCT_DEPTH - 1));
    expect(() => toStruct(nest(60))).toThrow(TypeError);
    expect(() => toStruct(nest(60))).toThrow(/nests at most/);
    let list: JsonObject = { leaf: 1 };
    for (let i = 0; i < 60; i++) list = { l: [list] };
    expect(() => toStruct(list)).toThrow(/nests at most/);
  });

  it("reads an absent Struct as an empty object", () => {
    expect(fromStruct(undefined)).toEqual({});
    expect(fromStruct(null)).toEqual({});
  });
});
