// OpenTelemetry traces of a real Verdict: a server span per Check under the W3C
// traceparent the caller sent in gRPC metadata (or per AuthZEN request, in its HTTP
// headers), and one span per stage under it
// (authenticate, verify, state, evaluate, enforce, audit); the caller's sampling
// decision followed; spans exported over OTLP/HTTP only when an endpoint is configured.
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { API_KEY_METADATA, PolicyDecisionServiceClient, type CheckRequestMessage, type CheckResponseMessage } from "@verdict/sdk/wire";
import { Tracing } from "../../src/observability/index.js";
import { buildFixtureBundle } from "../support/bundles.js";
import { AuthzenClient, startAuthzenVerdict, type AuthzenVerdict } from "../support/authzen.js";
import { startHttpServer, type TestHttpServer } from "../support/http.js";
import { captureLog } from "../support/log.js";
import { startTestVerdict, type TestVerdict } from "../support/verdict.js";

const CHECK = "verdict.v1.PolicyDecisionService/Check";

let bundle: string;
beforeAll(async () => {
  bundle = await buildFixtureBundle("state-policy");
});

/** A Check with the given metadata (traceparent, tracestate) beside the API key. */
function checkWith(t: TestVerdict, request: Partial<CheckRequestMessage>, headers: Record<string, string>): Promise<CheckResponseMessage> {
  const client = new PolicyDecisionServiceClient(t.address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set(API_KEY_METADATA, t.apiKey);
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  const message: CheckRequestMessage = {
    token: "",
    action: "read",
    resource: { type: "account", id: "a-1", attributes: {} },
    context: {},
    request_id: "",
    dry_run: false,
    explain: false,
    approval_id: "",
    ...request,
  };
  return new Promise((resolve, reject) =>
    client.check(message, metadata, { deadline: Date.now() + 20_000 }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(response);
    }),
  );
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

/** The spans of one trace the exporter has. */
function spansIn(exporter: InMemorySpanExporter, traceId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
}

/**
 * The call's span among one trace's `spans`: a SERVER span, the child of the caller's
 * span `parentId`, with the caller's tracestate (vendor=1); every other span its child.
 */
function serverSpanUnder(spans: ReadableSpan[], name: string, parentId: string): { server: ReadableSpan; children: ReadableSpan[] } {
  const server = spans.find((span) => span.name === name);
  if (!server) throw new Error(`no ${name} span`);
  expect(server.kind).toBe(SpanKind.SERVER);
  expect(server.parentSpanContext?.spanId).toBe(parentId);
  expect(server.spanContext().traceState?.get("vendor")).toBe("1");
  const children = spans.filter((span) => span !== server);
  for (const child of children) expect(child.parentSpanContext?.spanId, child.name).toBe(server.spanContext().spanId);
  return { server, children };
}

describe("traces with an in-memory exporter", () => {
  let t: TestVerdict;
  const exporter = new InMemorySpanExporter();

  beforeAll(async () => {
    t = await startTestVerdict({ config: { bundle }, spanExporter: exporter });
  });
  afterAll(async () => {
    await t?.stop();
  });
  beforeEach(() => exporter.reset());

  const spansOf = (traceId: string) => spansIn(exporter, traceId);

  it("continues the caller's trace: the Check's span is the child of its traceparent, each stage a child of the Check's", async () => {
    const traceId = hex(16);
    const parentId = hex(8);
    const token = await t.issuer.token({ sub: "traced-user" });
    // transfer_checked reads state before its evaluation; transfer applies a reservation.
    const checked = await checkWith(
      t,
      { token, action: "transfer_checked", context: { amount: 10 } },
      { traceparent: `00-${traceId}-${parentId}-01`, tracestate: "vendor=1" },
    );
    expect(checked.decision).toBe("ALLOW");
    await vi.waitFor(() => expect(spansOf(traceId).map((s) => s.name)).toContain(CHECK));

    const { server, children } = serverSpanUnder(spansOf(traceId), CHECK, parentId);
    expect(server.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "verdict.v1.PolicyDecisionService",
      "rpc.method": "Check",
      "verdict.api": "invoices-api",
    });
    // Enforcement runs for every decided item (here it has no obligation to apply).
    expect(children.map((span) => span.name).sort()).toEqual(["audit", "authenticate", "enforce", "evaluate", "evaluate", "state", "verify"]);

    // transfer declares no state (its reservation is enforced after the decision): no state span, an enforce span that writes.
    const traced = hex(16);
    await checkWith(t, { token, action: "transfer", context: { amount: 10 } }, { traceparent: `00-${traced}-${hex(8)}-01` });
    await vi.waitFor(() => expect(spansOf(traced).map((s) => s.name)).toContain(CHECK));
    expect(
      spansOf(traced)
        .map((s) => s.name)
        .sort(),
    ).toEqual([CHECK, "audit", "authenticate", "enforce", "evaluate", "verify"].sort());
  });

  it("starts a trace of its own when the caller sends none, and marks a refused caller's span", async () => {
    const token = await t.issuer.token({});
    await checkWith(t, { token }, {});
    await vi.waitFor(() => expect(exporter.getFinishedSpans().some((span) => span.name === CHECK)).toBe(true));
    const server = exporter.getFinishedSpans().find((span) => span.name === CHECK)!;
    expect(server.parentSpanContext).toBeUndefined();
    expect(exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === server.spanContext().traceId).length).toBeGreaterThan(3);

    exporter.reset();
    const refused = new PolicyDecisionServiceClient(t.address, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set(API_KEY_METADATA, "not-the-key");
    const code = await new Promise<number>((resolve) =>
      refused.check({ token, action: "read", context: {}, request_id: "", dry_run: false, explain: false, approval_id: "" }, metadata, (error) =>
        resolve(error?.code ?? 0),
      ),
    );
    refused.close();
    expect(code).toBe(grpc.status.UNAUTHENTICATED);
    await vi.waitFor(() => expect(exporter.getFinishedSpans().find((span) => span.name === CHECK)).toBeDefined());
    const spans = exporter.getFinishedSpans();
    expect(spans.find((span) => span.name === CHECK)?.attributes["rpc.grpc.status_code"]).toBe(grpc.status.UNAUTHENTICATED);
    expect(spans.find((span) => span.name === "authenticate")?.attributes["verdict.refused"]).toMatch(/key/);
  });

  it("follows the caller's decision not to sample, and never records the token", async () => {
    const traceId = hex(16);
    const token = await t.issuer.token({ sub: "unsampled" });
    await checkWith(t, { token }, { traceparent: `00-${traceId}-${hex(8)}-00` });
    const sampled = hex(16);
    await checkWith(t, { token }, { traceparent: `00-${sampled}-${hex(8)}-01` });
    await vi.waitFor(() => expect(spansOf(sampled).length).toBeGreaterThan(0));
    expect(spansOf(traceId)).toEqual([]);
    const text = JSON.stringify(exporter.getFinishedSpans().map((span: ReadableSpan) => [span.name, span.attributes, span.status]));
    expect(text).not.toContain(token);
  });
});

describe("traces of AuthZEN requests", () => {
  let v: AuthzenVerdict;
  const exporter = new InMemorySpanExporter();
  const EVALUATION = "POST /access/v1/evaluation";

  beforeAll(async () => {
    v = await startAuthzenVerdict({ config: { bundle }, spanExporter: exporter });
  });
  afterAll(async () => {
    await v?.stop();
  });
  beforeEach(() => exporter.reset());

  const spansOf = (traceId: string) => spansIn(exporter, traceId);
  const evaluation = { subject: { type: "user", id: "traced-user" }, action: { name: "read" }, resource: { type: "account", id: "a-1" } };

  it("continues the PEP's trace as gRPC Check does: a server span under its traceparent, authentication and each stage under it", async () => {
    const traceId = hex(16);
    const parentId = hex(8);
    const answer = await v.client.post("/access/v1/evaluation", evaluation, { traceparent: `00-${traceId}-${parentId}-01`, tracestate: "vendor=1" });
    expect(answer.status).toBe(200);
    await vi.waitFor(() => expect(spansOf(traceId).map((s) => s.name)).toContain(EVALUATION));

    const { server, children } = serverSpanUnder(spansOf(traceId), EVALUATION, parentId);
    expect(server.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/access/v1/evaluation",
      "http.response.status_code": 200,
      "url.scheme": "https",
      "verdict.api": "invoices-api",
    });
    expect(children.map((span) => span.name)).toEqual(expect.arrayContaining(["authenticate", "evaluate", "enforce", "audit"]));
  });

  it("marks a refused PEP's span, and never records its key", async () => {
    const traceId = hex(16);
    const stranger = new AuthzenClient(v.url, { ca: v.ca.certPem, apiKey: "not-the-key" });
    const answer = await stranger.post("/access/v1/evaluation", evaluation, { traceparent: `00-${traceId}-${hex(8)}-01` });
    expect(answer.status).toBe(401);
    await vi.waitFor(() => expect(spansOf(traceId).map((s) => s.name)).toContain(EVALUATION));
    const spans = spansOf(traceId);
    expect(spans.find((span) => span.name === EVALUATION)?.attributes["http.response.status_code"]).toBe(401);
    expect(spans.find((span) => span.name === "authenticate")?.status.code).toBe(2); // ERROR
    expect(spans.map((s) => s.name).sort()).toEqual([EVALUATION, "authenticate"].sort());
    expect(JSON.stringify(spans.map((span) => [span.name, span.attributes, span.status]))).not.toContain("not-the-key");
  });
});

describe("traces over OTLP/HTTP", () => {
  let collector: TestHttpServer;
  const bodies: string[] = [];
  const keys: (string | string[] | undefined)[] = [];

  beforeAll(async () => {
    collector = await startHttpServer({
      "/v1/traces": (request, body, response) => {
        bodies.push(body);
        keys.push(request.headers["x-collector-key"]);
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      },
    });
  });
  afterAll(async () => {
    await collector?.close();
  });

  it("exports nothing, and makes no spans, without an OTLP endpoint", () => {
    expect(Tracing.start({ version: "test" }).enabled).toBe(false);
    const noEndpoint = { headers: {}, service_name: "verdict", sample_ratio: 1, insecure_plaintext: false };
    expect(Tracing.start({ config: noEndpoint, version: "test" }).enabled).toBe(false);
  });

  it("sends the spans, with the configured headers, to the configured endpoint", async () => {
    const t = await startTestVerdict({
      config: { bundle, tracing: { otlp_endpoint: `${collector.url}/v1/traces`, headers: { "x-collector-key": "k-123" }, service_name: "verdict-test" } },
    });
    const traceId = hex(16);
    try {
      const token = await t.issuer.token({});
      expect((await checkWith(t, { token }, { traceparent: `00-${traceId}-${hex(8)}-01` })).decision).toBe("ALLOW");
    } finally {
      await t.stop(); // flushes the batch
    }
    const body = bodies.join("\n");
    expect(body).toContain(CHECK);
    expect(body).toContain("verdict-test");
    expect(body).toContain("evaluate");
    expect(body.toLowerCase()).toContain(traceId);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((key) => key === "k-123")).toBe(true);
  });

  it("logs the endpoint without its query string or fragment, and no header value", async () => {
    const captured = captureLog();
    const t = await startTestVerdict({
      config: { bundle, tracing: { otlp_endpoint: `${collector.url}/v1/traces?api_key=q-secret#f-secret`, headers: { "x-collector-key": "k-secret" } } },
      log: captured.log,
    });
    await t.stop();
    const serving = captured.lines().find((line) => line["msg"] === "verdict is serving");
    expect(serving?.["tracing"]).toBe(`${collector.url}/v1/traces`);
    expect(JSON.stringify(captured.lines())).not.toMatch(/q-secret|f-secret|k-secret/);
  });

  it("warns at start, as [INSECURE CONFIG], when tracing.insecure_plaintext sends the headers in clear beyond loopback, naming no secret", async () => {
    const captured = captureLog();
    // Nothing is exported (no span is made): the collector need not exist.
    const t = await startTestVerdict({
      config: {
        bundle,
        tracing: {
          otlp_endpoint: "http://otel-collector.invalid:4318/v1/traces?api_key=q-secret",
          headers: { "x-api-key": "k-secret" },
          insecure_plaintext: true,
        },
      },
      log: captured.log,
    });
    await t.stop();
    expect(captured.lines().filter((line) => String(line["msg"]).startsWith("[INSECURE CONFIG] tracing.insecure_plaintext"))).toEqual([
      expect.objectContaining({ level: 40, endpoint: "http://otel-collector.invalid:4318/v1/traces" }),
    ]);
    expect(JSON.stringify(captured.lines())).not.toMatch(/q-secret|k-secret/);
  });
});
