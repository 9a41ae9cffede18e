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
  approval_id: "",
  ...overrides,
});

describe("edge validation of CheckRequest", () => {
  it("turns a valid request into typed input", () => {
    expect(validateCheckRequest(request())).toEqual({
      token: "t",
      action: "invoices:read",
      resource: { type: "invoice", id: "inv-1", attributes: {} },
      context: { amount: 1 },
      bytes: expect.any(Number),
      requestId: "req-1",
      dryRun: false,
      explain: false,
    });
  });

  it("measures at least the bytes the context and attributes take as JSON (the audit buffer's bound uses it)", () => {
    const context = { note: "é".repeat(100), n: 12345.678, list: [true, null, "x"] };
    const attributes = { owner: "u-1" };
    const item = validateCheckRequest(request({ context, resource: { type: "invoice", id: "inv-1", attributes } }));
    const exact = Buffer.byteLength(JSON.stringify(context)) + Buffer.byteLength(JSON.stringify(attributes));
    expect(item.bytes).toBeGreaterThanOrEqual(exact);
  });

  it("makes up a request id when the caller gives none, a new one each time", () => {
    const first = validateCheckRequest(request({ request_id: "" })).requestId;
    const second = validateCheckRequest(request({ request_id: "" })).requestId;
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(second).not.toBe(first);
    expect(validateCheckRequest(request({ request_id: "req-7" })).requestId).toBe("req-7");
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
    ["a context string over the limit", { context: { s: "x".repeat(LIMITS.maxStringLength + 1) } }],
    ["a context with too many values", { context: { list: Array.from({ length: LIMITS.maxNodes }, (_, i) => i) } }],
    ["a context key with a control character", { context: { "a\u0001": 1 } }],
  ])("rejects %s", (_, overrides) => {
    expect(() => validateCheckRequest(request(overrides as Partial<CheckRequestMessage>))).toThrow(InvalidArgumentError);
  });

  it("bounds context and resource attributes by bytes (32 KiB as JSON by default), each on its own", () => {
    // 30 strings of 8,000 characters: within the count, length and depth limits, 240 KB in all
    const big = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, "x".repeat(8_000)]));
    expect(() => validateCheckRequest(request({ context: big }))).toThrow(/context is larger than 32768 bytes/);
    expect(() => validateCheckRequest(request({ resource: { type: "invoice", id: "1", attributes: big } }))).toThrow(
      /resource.attributes is larger than 32768 bytes/,
    );
    const three = Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`k${i}`, "x".repeat(8_000)]));
    expect(() => validateCheckRequest(request({ context: three, resource: { type: "invoice", id: "1", attributes: three } }))).not.toThrow();
    // multi-byte characters count as the bytes they are
    expect(() => validateCheckRequest(request({ context: { a: "€".repeat(5_000), b: "€".repeat(5_000), c: "€".repeat(1_000) } }))).toThrow(/larger than/);
    expect(() => validateCheckRequest(request({ context: three }), { maxContextBytes: 16_384 })).toThrow(/larger than 16384 bytes/);
  });

  it("refuses NaN and ±Infinity in context or resource attributes (protobuf carries them, JSON cannot)", () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => validateCheckRequest(request({ context: { currency: value } }))).toThrow(
        new InvalidArgumentError("context.currency is not a finite number"),
      );
      expect(() => validateCheckRequest(request({ context: { list: [1, value] } }))).toThrow(/context\.list\[1\] is not a finite number/);
      expect(() => validateCheckRequest(request({ resource: { type: "invoice", id: "i", attributes: { n: value } } }))).toThrow(/is not a finite number/);
    }
    expect(() => validateCheckRequest(request({ context: { big: Number.MAX_VALUE, small: -Number.MIN_VALUE } }))).not.toThrow();
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
