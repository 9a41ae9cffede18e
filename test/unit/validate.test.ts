import { describe, expect, it } from "vitest";
import type { CheckRequestMessage } from "@verdict/sdk/wire";
import { InvalidArgumentError, LIMITS, validateCheckRequest } from "../../src/server/index.js";

const request = (overrides: Partial<CheckRequestMessage> = {}): CheckRequestMessage => ({
  token: "t",
  action: "invoices:read",
  resource: { type: "invoice", id: "inv-1" },
  context: { amount: 1 },
  request_id: "req-1",
  dry_run: false,
  explain: false,
  ...overrides,
});

describe("edge validation of CheckRequest", () => {
  it("turns a valid request into typed input", () => {
    expect(validateCheckRequest(request())).toEqual({
      token: "t",
      action: "invoices:read",
      resource: { type: "invoice", id: "inv-1", attributes: {} },
      context: { amount: 1 },
      requestId: "req-1",
      dryRun: false,
      explain: false,
    });
  });

  it("carries the explain flag", () => {
    expect(validateCheckRequest(request({ explain: true })).explain).toBe(true);
  });

  it("accepts a collection-level resource with an empty id", () => {
    expect(validateCheckRequest(request({ resource: { type: "invoice", id: "" } })).resource.id).toBe("");
  });

  it.each([
    ["an empty action", { action: "" }],
    ["an action over 128 characters", { action: "a".repeat(129) }],
    ["an action with a newline", { action: "invoices:read\n" }],
    ["no resource", { resource: undefined }],
    ["a resource id with a control character", { resource: { type: "invoice", id: "a\u0000b" } }],
    ["a resource id over the limit", { resource: { type: "invoice", id: "x".repeat(LIMITS.maxResourceIdLength + 1) } }],
    ["a request id with spaces", { request_id: "a b" }],
    ["a context string over the limit", { context: ({ s: "x".repeat(LIMITS.maxStringLength + 1) }) }],
    ["a context with too many values", { context: ({ list: Array.from({ length: LIMITS.maxNodes }, (_, i) => i) }) }],
    ["a context key with a control character", { context: ({ "a\u0001": 1 }) }],
  ])("rejects %s", (_, overrides) => {
    expect(() => validateCheckRequest(request(overrides as Partial<CheckRequestMessage>))).toThrow(InvalidArgumentError);
  });

  it("accepts a context exactly at the depth limit and rejects one level more", () => {
    const nest = (levels: number) => {
      let value: Record<string, unknown> = {};
      for (let i = 0; i < levels; i++) value = { n: value };
      return value;
    };
    expect(() => validateCheckRequest(request({ context: nest(LIMITS.maxDepth) }))).not.toThrow();
    expect(() => validateCheckRequest(request({ context: nest(LIMITS.maxDepth + 1) }))).toThrow(/nested deeper/);
  });
});
