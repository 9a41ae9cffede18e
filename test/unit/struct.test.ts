import { describe, expect, it } from "vitest";
import { jsonObject, MAX_STRUCT_DEPTH, PolicyDecisionServiceService, type JsonObject } from "@verdict/sdk/wire";
import { InvalidArgumentError, validateCheckRequest } from "../../src/server/index.js";

// Through the generated protobuf codec (google.protobuf.Struct <-> a plain object), as on the wire.
function roundTrip(context: JsonObject): JsonObject {
  const method = PolicyDecisionServiceService.check;
  const bytes = method.requestSerialize({ token: "", action: "a", context, request_id: "", dry_run: false, explain: false, approval_id: "" });
  return method.requestDeserialize(bytes).context ?? {};
}

describe("google.protobuf.Struct on the wire", () => {
  it("carries every JSON type through the wire unchanged", () => {
    const context = {
      amount: 100.5,
      zero: 0,
      name: "x",
      empty: "",
      yes: true,
      no: false,
      nothing: null,
      list: [1, "a", null, { b: [true] }],
      nested: { deep: { deeper: -1 } },
    };
    expect(roundTrip(context)).toEqual(context);
  });

  it("keeps keys that look like query operators or paths as plain keys", () => {
    const context = { $gt: "", "a.b": { $where: "1" } };
    expect(roundTrip(context)).toEqual(context);
  });

  it("carries a key __proto__ as a key (it set a prototype and vanished), which Verdict then refuses as AuthZEN does", () => {
    const context = JSON.parse('{"amount": 5, "__proto__": {"approved": true}, "nested": {"__proto__": 1}}') as JsonObject;
    const method = PolicyDecisionServiceService.check;
    const bytes = method.requestSerialize({
      token: "t",
      action: "a",
      resource: { type: "r", id: "1", attributes: {} },
      context,
      request_id: "",
      dry_run: false,
      explain: false,
      approval_id: "",
    });
    const decoded = method.requestDeserialize(bytes);
    // until 2026-12-07 the decoded context was { amount: 5, nested: {} }: the policy never saw what was sent
    expect(Object.keys(decoded.context ?? {})).toEqual(["amount", "__proto__", "nested"]);
    expect(Object.getPrototypeOf(decoded.context)).toBe(Object.prototype);
    expect(Object.keys((decoded.context?.["nested"] ?? {}) as object)).toEqual(["__proto__"]);
    expect(() => validateCheckRequest(decoded)).toThrow(InvalidArgumentError);
    expect(() => validateCheckRequest(decoded)).toThrow(/^context has the key __proto__/);
    expect(() =>
      validateCheckRequest({ ...decoded, context: { amount: 5 }, resource: { type: "r", id: "1", attributes: { nested: decoded.context?.["nested"] } } }),
    ).toThrow(/resource\.attributes\.nested has the key __proto__/);
    // the SDK says so before sending
    expect(() => jsonObject(context, "context")).toThrow(/context: the key __proto__ is not accepted by Verdict/);
  });

  it("refuses values JSON cannot carry", () => {
    expect(() => jsonObject({ n: Number.NaN }, "context")).toThrow(TypeError);
    expect(() => jsonObject({ f: () => 1 }, "context")).toThrow(TypeError);
    expect(() => jsonObject([1], "context")).toThrow(TypeError);
  });

  it("refuses to send a Struct nested deeper than protobuf can carry, with a TypeError (not a serialization failure)", () => {
    const nest = (depth: number, inner: JsonObject = { leaf: 1 }) => {
      let value = inner;
      for (let i = 0; i < depth; i++) value = { a: value };
      return value;
    };
    expect(roundTrip(jsonObject(nest(MAX_STRUCT_DEPTH - 1), "context"))).toEqual(nest(MAX_STRUCT_DEPTH - 1));
    expect(() => jsonObject(nest(60), "context")).toThrow(TypeError);
    expect(() => jsonObject(nest(60), "context")).toThrow(/nests at most/);
    let list: JsonObject = { leaf: 1 };
    for (let i = 0; i < 60; i++) list = { l: [list] };
    expect(() => jsonObject(list, "context")).toThrow(/nests at most/);
  });

  it("reads an absent Struct as absent, and sends an empty object as an empty Struct", () => {
    const method = PolicyDecisionServiceService.check;
    const request = { token: "", action: "a", request_id: "", dry_run: false, explain: false, approval_id: "" };
    expect(method.requestDeserialize(method.requestSerialize(request)).context).toBeUndefined();
    expect(roundTrip({})).toEqual({});
  });
});
