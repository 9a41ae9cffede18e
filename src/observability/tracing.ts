// OpenTelemetry traces: a span for each Check (a child of the caller's W3C
// traceparent, when it sends one) and one per stage under it. Spans are made only
// when tracing is configured (an OTLP endpoint) or a test hands an exporter; off,
// every call here is a plain function call. The provider is Verdict's own, never
// the global one, so that it neither takes over nor is taken over by a host's.
//
// The SDK is loaded the first time tracing is on (a Verdict without tracing starts
// without its modules): required, all of it from one module system, so that the
// API's context keys are the ones the SDK reads, and start() stays synchronous.
import { createRequire } from "node:module";
import type * as OtelApi from "@opentelemetry/api";
import type { Attributes, Context, Span, Tracer } from "@opentelemetry/api";
import type * as OtelCore from "@opentelemetry/core";
import type * as OtelExporter from "@opentelemetry/exporter-trace-otlp-http";
import type * as OtelResources from "@opentelemetry/resources";
import type * as OtelSdk from "@opentelemetry/sdk-trace-base";
import type { BasicTracerProvider, SpanExporter } from "@opentelemetry/sdk-trace-base";
import type * as OtelSemconv from "@opentelemetry/semantic-conventions";
import type { TracingConfig } from "./config.js";

/** Where a span's children go: opaque outside this module. */
export type TraceContext = Context;

export interface TracingOptions {
  config?: TracingConfig | undefined;
  /** Spans go here, each as it ends (tests: an in-memory exporter); replaces the OTLP exporter. */
  exporter?: SpanExporter | undefined;
  version: string;
}

interface Otel {
  api: typeof OtelApi;
  sdk: typeof OtelSdk;
  propagator: OtelCore.W3CTraceContextPropagator;
  exporter: typeof OtelExporter;
  resources: typeof OtelResources;
  semconv: typeof OtelSemconv;
}

let otel: Otel | undefined;

function loadOtel(): Otel {
  if (otel) return otel;
  const require = createRequire(import.meta.url);
  const core = require("@opentelemetry/core") as typeof OtelCore;
  otel = {
    api: require("@opentelemetry/api") as typeof OtelApi,
    sdk: require("@opentelemetry/sdk-trace-base") as typeof OtelSdk,
    propagator: new core.W3CTraceContextPropagator(),
    exporter: require("@opentelemetry/exporter-trace-otlp-http") as typeof OtelExporter,
    resources: require("@opentelemetry/resources") as typeof OtelResources,
    semconv: require("@opentelemetry/semantic-conventions") as typeof OtelSemconv,
  };
  return otel;
}

/** A carrier read through a getter (gRPC metadata, HTTP headers). */
const getter = {
  keys: (carrier: (key: string) => string | undefined) => ["traceparent", "tracestate"].filter((key) => carrier(key) !== undefined),
  get: (carrier: (key: string) => string | undefined, key: string) => carrier(key),
};

export class Tracing {
  private constructor(
    private readonly tracer: Tracer | undefined,
    private readonly provider: BasicTracerProvider | undefined,
    private readonly otel: Otel | undefined,
  ) {}

  /** No spans at all. */
  static off(): Tracing {
    return new Tracing(undefined, undefined, undefined);
  }

  static start({ config, exporter, version }: TracingOptions): Tracing {
    const otlp = config?.otlp_endpoint;
    if (!exporter && otlp === undefined) return Tracing.off();
    const otel = loadOtel();
    const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler } = otel.sdk;
    const { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } = otel.semconv;
    const processor = exporter
      ? new SimpleSpanProcessor(exporter)
      : new BatchSpanProcessor(new otel.exporter.OTLPTraceExporter({ url: otlp, headers: { ...config?.headers }, timeoutMillis: 10_000 }));
    const provider = new BasicTracerProvider({
      resource: otel.resources.resourceFromAttributes({ [ATTR_SERVICE_NAME]: config?.service_name ?? "verdict", [ATTR_SERVICE_VERSION]: version }),
      // A caller's sampling decision is followed; a trace that starts here is sampled at sample_ratio.
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config?.sample_ratio ?? 1) }),
      spanProcessors: [processor],
    });
    return new Tracing(provider.getTracer("verdict", version), provider, otel);
  }

  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /**
   * Starts the server span of an incoming call, the child of the W3C traceparent
   * (and tracestate) read through `header`; a malformed traceparent starts a new trace.
   */
  startServerSpan(name: string, header: (key: string) => string | undefined, attributes: Attributes): ServerSpan | undefined {
    if (!this.tracer || !this.otel) return undefined;
    const { ROOT_CONTEXT, SpanKind, trace } = this.otel.api;
    const parent = this.otel.propagator.extract(ROOT_CONTEXT, header, getter);
    const span = this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    return new ServerSpan(span, trace.setSpan(parent, span));
  }

  /** Runs `run` in a child span of `parent` (none when tracing is off or there is no parent); the span ends when it settles. */
  span<T>(parent: TraceContext | undefined, name: string, run: () => T | Promise<T>, describe?: (result: T) => Attributes): Promise<T> {
    const span = this.start(parent, name);
    const running = new Promise<T>((resolve) => resolve(run()));
    return span
      ? running.then(
          (result) => ended(span, result, describe),
          (error: unknown) => {
            throw failed(span, error);
          },
        )
      : running;
  }

  /** The same for synchronous work (caller authentication). */
  spanSync<T>(parent: TraceContext | undefined, name: string, run: () => T, describe?: (result: T) => Attributes): T {
    const span = this.start(parent, name);
    if (!span) return run();
    try {
      return ended(span, run(), describe);
    } catch (error) {
      throw failed(span, error);
    }
  }

  private start(parent: TraceContext | undefined, name: string): Span | undefined {
    return this.tracer && parent ? this.tracer.startSpan(name, {}, parent) : undefined;
  }

  /** Exports what is still buffered, then stops. */
  async shutdown(): Promise<void> {
    await this.provider?.shutdown();
  }
}

function ended<T>(span: Span, result: T, describe?: (result: T) => Attributes): T {
  if (describe) span.setAttributes(describe(result));
  span.end();
  return result;
}

/** Ends the span as failed; returns the error, to be thrown on. */
function failed(span: Span, error: unknown): unknown {
  span.setStatus({ code: loadOtel().api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.end();
  return error;
}

/** The span of one incoming call and the context its stages hang under. */
export class ServerSpan {
  constructor(
    private readonly span: Span,
    readonly context: TraceContext,
  ) {}

  setAttributes(attributes: Attributes): void {
    this.span.setAttributes(attributes);
  }

  /** Ends it; `error` marks it failed (the call got no answer it could use). */
  end(error?: string): void {
    if (error !== undefined) this.span.setStatus({ code: loadOtel().api.SpanStatusCode.ERROR, message: error });
    this.span.end();
  }
}
