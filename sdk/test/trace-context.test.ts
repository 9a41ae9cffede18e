// The SDK passes the incoming HTTP request's W3C Trace Context on to Verdict, so
// that Verdict's spans join the API's trace: from the Express and Fastify
// middleware, and from a client call given a traceContext. Against a real Verdict
// whose spans go to an in-memory exporter.
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import express from "express";
import Fastify from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { readTraceContext, verdictExpress, verdictFastify, verdictOf } from "@verdict/sdk";
import { send } from "./support/http.js";
import { startSdkVerdict, type SdkTestVerdict } from "./support/verdict.js";

const CHECK = "verdict.v1.PolicyDecisionService/Check";
const exporter = new InMemorySpanExporter();
let t: SdkTestVerdict;

beforeAll(async () => {
  t = await startSdkVerdict({ spanExporter: exporter });
});
afterAll(async () => {
  await t?.stop();
});
beforeEach(() => exporter.reset());

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

/** The span Verdict made for the Check of a trace. */
async function checkSpanOf(traceId: string) {
  await vi.waitFor(() => expect(exporter.getFinishedSpans().some((s) => s.name === CHECK && s.spanContext().traceId === traceId)).toBe(true));
  return exporter.getFinishedSpans().find((s) => s.name === CHECK && s.spanContext().traceId === traceId)!;
}

describe("W3C Trace Context from the API to Verdict", () => {
  it("Express: Verdict's Check span is the child of the incoming request's traceparent", async () => {
    const app = express();
    const verdict = verdictExpress(t.sdkClient());
    app.get("/invoices", verdict({ action: "invoices:read", resource: { type: "invoice" } }), (req, res) => {
      res.json({ subject: verdictOf(req).principal.subject });
    });
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const traceId = hex(16);
      const parentId = hex(8);
      const token = await t.issuer.token({ scope: "invoices:read" });
      const response = await send(`http://127.0.0.1:${(server.address() as AddressInfo).port}/invoices`, {
        headers: { authorization: `Bearer ${token}`, traceparent: `00-${traceId}-${parentId}-01`, tracestate: "api=7" },
      });
      expect(response.status).toBe(200);
      const span = await checkSpanOf(traceId);
      expect(span.parentSpanContext?.spanId).toBe(parentId);
      expect(span.spanContext().traceState?.get("api")).toBe("7");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("Fastify: the same", async () => {
    const app = Fastify();
    app.decorateRequest("verdict", null);
    const verdict = verdictFastify(t.sdkClient());
    app.get("/invoices", { preHandler: verdict({ action: "invoices:read", resource: { type: "invoice" } }) }, async (req) => ({
      subject: verdictOf(req).principal.subject,
    }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const traceId = hex(16);
      const parentId = hex(8);
      const token = await t.issuer.token({ scope: "invoices:read" });
      const response = await send(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/invoices`, {
        headers: { authorization: `Bearer ${token}`, traceparent: `00-${traceId}-${parentId}-01` },
      });
      expect(response.status).toBe(200);
      expect((await checkSpanOf(traceId)).parentSpanContext?.spanId).toBe(parentId);
    } finally {
      await app.close();
    }
  });

  it("a client call with a traceContext, and none without one", async () => {
    const client = t.sdkClient();
    const traceId = hex(16);
    const parentId = hex(8);
    const token = await t.issuer.token({ scope: "invoices:read" });
    await client.check({ token, action: "invoices:read", resource: { type: "invoice" }, traceContext: { traceparent: `00-${traceId}-${parentId}-01` } });
    expect((await checkSpanOf(traceId)).parentSpanContext?.spanId).toBe(parentId);

    exporter.reset();
    await client.check({ token, action: "invoices:read", resource: { type: "invoice" } });
    await vi.waitFor(() => expect(exporter.getFinishedSpans().some((s) => s.name === CHECK)).toBe(true));
    expect(exporter.getFinishedSpans().find((s) => s.name === CHECK)?.parentSpanContext).toBeUndefined();
  });

  it("passes on only a well-formed traceparent", () => {
    const traceparent = `00-${hex(16)}-${hex(8)}-01`;
    expect(readTraceContext({ traceparent })).toEqual({ traceparent });
    expect(readTraceContext({ traceparent: traceparent.toUpperCase(), tracestate: "a=1,b=2" })).toEqual({ traceparent, tracestate: "a=1,b=2" });
    expect(readTraceContext({ traceparent: "00-xyz-abc-01" })).toBeUndefined();
    expect(readTraceContext({ traceparent: [traceparent, traceparent] })).toBeUndefined();
    expect(readTraceContext({ traceparent, tracestate: "a=\u00e9" })).toEqual({ traceparent });
    expect(readTraceContext({})).toBeUndefined();
  });
});
