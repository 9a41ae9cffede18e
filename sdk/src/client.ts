// The gRPC client of Verdict's PolicyDecisionService: a few connections per client
// (connections.ts), reused and kept alive, with typed results and typed errors.
import * as grpc from "@grpc/grpc-js";
import { toBatchResults, toDecision, toReleaseResult, type BatchItemResult, type Decision, type ReleaseResult } from "./decision.js";
import { Connections, DEFAULT_CONNECTIONS, MAX_CONNECTIONS } from "./connections.js";
import { VerdictError, type VerdictErrorCode } from "./errors.js";
import { isLoopbackHost } from "./loopback.js";
import {
  API_KEY_METADATA,
  jsonObject,
  POLICY_DECISION_SERVICE,
  retryPushbackMs,
  TRACEPARENT_METADATA,
  TRACESTATE_METADATA,
  type CheckBatchRequestMessage,
  type PolicyDecisionServiceClient,
  type CheckRequestMessage,
  type DpopProofMessage,
  type JsonObject,
  type ResourceMessage,
} from "./wire/index.js";

export { API_KEY_METADATA } from "./wire/index.js";
export { DEFAULT_CONNECTIONS, MAX_CONNECTIONS } from "./connections.js";
export const DEFAULT_DEADLINE_MS = 1_000;

export interface VerdictTlsOptions {
  /** CA certificate(s) that issued Verdict's certificate (PEM); the system roots when omitted. */
  ca?: string | Buffer;
  /** Client certificate and key (PEM) for mutual TLS: they identify the API to Verdict. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name to verify in Verdict's certificate, when it differs from the address's host. */
  serverName?: string;
}

export interface VerdictClientOptions {
  /** Verdict's address, e.g. "verdict.internal:50051" or "127.0.0.1:50051". */
  address: string;
  /**
   * TLS settings. Default: plaintext to a loopback address (127.0.0.0/8, ::1,
   * localhost, unix:), TLS with the system's roots to any other. `false` connects in
   * plaintext, which is refused beyond loopback unless insecurePlaintext is set.
   */
  tls?: VerdictTlsOptions | false;
  /** How this API authenticates to Verdict, when not (only) by its client certificate. */
  credential?: { apiKey: string };
  /** Deadline of each call (default 1000 ms). A call that misses it fails closed. */
  deadlineMs?: number;
  /** Allows `tls: false` beyond loopback, e.g. inside a mesh that encrypts the hop. Tokens travel in clear otherwise. */
  insecurePlaintext?: boolean;
  /**
   * How calls spread over the addresses `address` resolves to. "pick_first" (the
   * default): one connection, to the first address that answers. "round_robin": a
   * connection to every address (e.g. each pod behind a headless Service,
   * `dns:///verdict-headless.verdict.svc:50051`), calls taken in turn.
   */
  loadBalancing?: "pick_first" | "round_robin";
  /**
   * HTTP/2 connections the client keeps (default 2, at most 16), each call on the one
   * with the fewest calls in flight. A Verdict runs a process per core and each
   * connection is served by one process: give a busy API as many connections as
   * Verdict has processes. With round_robin, each connection goes to every address.
   */
  connections?: number;
}

/** W3C Trace Context of the request being decided, so that Verdict's spans join its trace. */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

export interface ResourceRef {
  type: string;
  /** May be empty, e.g. for a collection. */
  id?: string;
  attributes?: JsonObject;
}

export interface DpopProof {
  /** The DPoP header the client sent. */
  proof: string;
  /** The request's method, e.g. "POST". */
  method: string;
  /** The absolute URL the client used (its query is ignored by Verdict). */
  url: string;
}

export interface CheckRequest {
  /** The access token exactly as received, without "Bearer ". */
  token: string;
  action: string;
  resource: ResourceRef;
  context?: JsonObject;
  /** The API's own request id, carried into Verdict's logs and audit. */
  requestId?: string;
  dpop?: DpopProof;
  /** Evaluate without applying obligations or consuming a DPoP proof. */
  dryRun?: boolean;
  /** The incoming request's traceparent (and tracestate); the middleware passes them on. */
  traceContext?: TraceContext;
  /** The approval a retry names (an approval_required challenge's approvalId); used at most once. */
  approvalId?: string;
}

export interface BatchItem {
  action: string;
  resource: ResourceRef;
  context?: JsonObject;
  approvalId?: string;
}

export interface CheckBatchRequest {
  token: string;
  items: BatchItem[];
  requestId?: string;
  dpop?: DpopProof;
  dryRun?: boolean;
  traceContext?: TraceContext;
}

export interface CallOptions {
  /** Overrides the client's deadline for this call. */
  deadlineMs?: number;
}

export interface VerdictClient {
  /** May this token do this action on this resource? Rejects with a VerdictError when no decision was obtained. */
  check(request: CheckRequest, options?: CallOptions): Promise<Decision>;
  /** One token, many items: one result per item, in order (a decision, or the item's own error). */
  checkBatch(request: CheckBatchRequest, options?: CallOptions): Promise<BatchItemResult[]>;
  /** Gives back the obligations of an ALLOW whose action did not happen. Idempotent. */
  release(decisionId: string, options?: CallOptions): Promise<ReleaseResult>;
  /** Closes the channel; later calls reject with verdict_client_closed. */
  close(): void;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * Retries, by method. Check and CheckBatch have no retry policy: once a call may
 * have reached Verdict it may have applied obligations (budget reserved, a key
 * consumed), so it is never sent again. grpc-js still retries "transparently" an
 * attempt that never left this process, or that Verdict's HTTP/2 layer refused
 * before any handler saw it (REFUSED_STREAM, at most once), always within the
 * deadline. Release is idempotent and is retried on UNAVAILABLE; retryThrottling
 * bounds those retries (a token bucket: when more than half of the 10 tokens are
 * spent by failures, retries stop until successes refill it).
 */
const serviceConfig = (loadBalancing: "pick_first" | "round_robin") => ({
  loadBalancingConfig: [{ [loadBalancing]: {} }],
  methodConfig: [
    {
      name: [{ service: POLICY_DECISION_SERVICE, method: "Release" }],
      retryPolicy: { maxAttempts: 3, initialBackoff: "0.1s", maxBackoff: "1s", backoffMultiplier: 2, retryableStatusCodes: ["UNAVAILABLE"] },
    },
  ],
  retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
});

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.enable_retries": 1,
  // The retry policy above is part of the fail-closed contract: a DNS TXT record must not replace it.
  "grpc.service_config_disable_resolution": 1,
  // Pings keep the connection (and NATs and load balancers on the way) warm between
  // requests; Verdict accepts them every 10 s or more without calls.
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  // Notice a restarted Verdict within seconds rather than grpc-js's default of up to two minutes.
  "grpc.initial_reconnect_backoff_ms": 250,
  "grpc.max_reconnect_backoff_ms": 5_000,
};

function invalidOptions(message: string): VerdictError {
  return new VerdictError("verdict_invalid_options", message);
}

/** Whether an address names this machine, where plaintext never leaves it. */
function isLoopback(address: string): boolean {
  if (address.startsWith("unix:")) return true;
  const withoutScheme = address.replace(/^(dns|ipv4|ipv6):(\/\/[^/]*\/)?/, "");
  // An ipv4:/ipv6: target is a comma-separated list and grpc-js dials every entry: each must be loopback.
  return withoutScheme.split(",").every((entry) => {
    const host = entry.startsWith("[") ? entry.slice(1, entry.indexOf("]")) : entry.replace(/:\d+$/, "");
    return isLoopbackHost(host);
  });
}

function channelCredentials(options: VerdictClientOptions): grpc.ChannelCredentials {
  const tls = options.tls;
  if (tls === false) {
    if (!isLoopback(options.address) && options.insecurePlaintext !== true) {
      throw invalidOptions(`tls: false would send tokens in clear to ${options.address}; use TLS, or set insecurePlaintext: true if a mesh encrypts the hop`);
    }
    return grpc.credentials.createInsecure();
  }
  const pem = (value: string | Buffer | undefined) => (value === undefined ? null : Buffer.isBuffer(value) ? value : Buffer.from(value));
  if ((tls?.cert === undefined) !== (tls?.key === undefined)) throw invalidOptions("tls.cert and tls.key go together");
  return grpc.credentials.createSsl(pem(tls?.ca), pem(tls?.key), pem(tls?.cert));
}

function positiveMs(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw invalidOptions(`${name} must be a positive number of milliseconds`);
  return value;
}

const ERROR_CODES: Partial<Record<grpc.status, VerdictErrorCode>> = {
  [grpc.status.UNAVAILABLE]: "verdict_unavailable",
  [grpc.status.RESOURCE_EXHAUSTED]: "verdict_unavailable",
  [grpc.status.DEADLINE_EXCEEDED]: "verdict_deadline_exceeded",
  [grpc.status.UNAUTHENTICATED]: "verdict_unauthenticated",
  [grpc.status.PERMISSION_DENIED]: "verdict_unauthenticated",
  [grpc.status.INVALID_ARGUMENT]: "verdict_invalid_argument",
};

export function createVerdictClient(options: VerdictClientOptions): VerdictClient {
  if (typeof options?.address !== "string" || options.address.trim() === "") throw invalidOptions("address is required, e.g. 127.0.0.1:50051");
  const apiKey = options.credential?.apiKey;
  if (apiKey !== undefined && (typeof apiKey !== "string" || apiKey === "" || /[^\x21-\x7e]/.test(apiKey))) {
    throw invalidOptions("credential.apiKey must be a non-empty string of printable ASCII");
  }
  if (apiKey === undefined && (options.tls === false || options.tls?.cert === undefined)) {
    throw invalidOptions("Verdict needs to know which API is asking: give credential.apiKey, or a client certificate in tls.cert/tls.key");
  }
  const defaultDeadlineMs = positiveMs(options.deadlineMs, DEFAULT_DEADLINE_MS, "deadlineMs");
  // Without a tls option: plaintext to a loopback address (it never leaves the machine,
  // and Verdict's default listen address serves it), TLS with the system roots elsewhere.
  const tls = options.tls ?? (isLoopback(options.address) ? false : undefined);
  const serverName = tls ? tls.serverName : undefined;
  const loadBalancing = options.loadBalancing ?? "pick_first";
  if (loadBalancing !== "pick_first" && loadBalancing !== "round_robin") throw invalidOptions('loadBalancing must be "pick_first" or "round_robin"');
  const channelOptions: grpc.ChannelOptions = {
    ...CHANNEL_OPTIONS,
    "grpc.service_config": JSON.stringify(serviceConfig(loadBalancing)),
    ...(serverName ? { "grpc.ssl_target_name_override": serverName, "grpc.default_authority": serverName } : {}),
  };
  const count = options.connections ?? DEFAULT_CONNECTIONS;
  if (!Number.isInteger(count) || count < 1 || count > MAX_CONNECTIONS) throw invalidOptions(`connections must be a whole number from 1 to ${MAX_CONNECTIONS}`);
  const connections = new Connections(options.address, channelCredentials({ ...options, tls }), channelOptions, count);
  let closed = false;

  function call<Req, Res>(
    method: (stub: PolicyDecisionServiceClient) => Unary<Req, Res>,
    request: Req,
    callOptions: CallOptions | undefined,
    trace?: TraceContext,
  ): Promise<Res> {
    if (closed) return Promise.reject(new VerdictError("verdict_client_closed", "the Verdict client is closed"));
    const deadlineMs = positiveMs(callOptions?.deadlineMs, defaultDeadlineMs, "deadlineMs");
    const metadata = new grpc.Metadata();
    if (apiKey !== undefined) metadata.set(API_KEY_METADATA, apiKey);
    if (trace) {
      metadata.set(TRACEPARENT_METADATA, trace.traceparent);
      if (trace.tracestate !== undefined) metadata.set(TRACESTATE_METADATA, trace.tracestate);
    }
    const connection = connections.take();
    return new Promise<Res>((resolve, reject) => {
      try {
        method(connection.stub)(request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
          connection.done();
          if (error) reject(fromGrpcError(error));
          else if (response === undefined || response === null) reject(new VerdictError("verdict_malformed_response", "Verdict answered without a message"));
          else resolve(response);
        });
      } catch (error) {
        connection.done();
        // grpc-js throws synchronously when the channel was closed under us.
        reject(new VerdictError(closed ? "verdict_client_closed" : "verdict_internal_error", `the call could not start: ${(error as Error).message}`));
      }
    });
  }

  function fromGrpcError(error: grpc.ServiceError): VerdictError {
    const status = grpc.status[error.code] ?? String(error.code);
    const code: VerdictErrorCode =
      closed && error.code === grpc.status.CANCELLED ? "verdict_client_closed" : (ERROR_CODES[error.code] ?? "verdict_internal_error");
    return new VerdictError(code, `Verdict call failed: ${status}: ${error.details}`, status, pushbackOf(error));
  }

  return {
    async check(request, callOptions) {
      const message: CheckRequestMessage = {
        token: request.token,
        action: request.action,
        resource: resourceMessage(request.resource),
        context: struct(request.context, "context"),
        request_id: request.requestId ?? "",
        dry_run: request.dryRun === true,
        explain: false,
        approval_id: request.approvalId ?? "",
        ...(request.dpop ? { dpop: dpopMessage(request.dpop) } : {}),
      };
      return toDecision(await call((stub) => stub.check.bind(stub), message, callOptions, traceContext(request.traceContext)));
    },

    async checkBatch(request, callOptions) {
      const message: CheckBatchRequestMessage = {
        token: request.token,
        items: request.items.map((item) => ({
          action: item.action,
          resource: resourceMessage(item.resource),
          context: struct(item.context, "context"),
          approval_id: item.approvalId ?? "",
        })),
        request_id: request.requestId ?? "",
        dry_run: request.dryRun === true,
        ...(request.dpop ? { dpop: dpopMessage(request.dpop) } : {}),
      };
      const response = await call((stub) => stub.checkBatch.bind(stub), message, callOptions, traceContext(request.traceContext));
      return toBatchResults(response.results, request.items.length);
    },

    async release(decisionId, callOptions) {
      return toReleaseResult(await call((stub) => stub.release.bind(stub), { decision_id: decisionId }, callOptions));
    },

    close() {
      if (closed) return;
      closed = true;
      connections.close();
    },
  };
}

/** A trace context gRPC metadata can carry (printable ASCII); anything else is not sent. */
function traceContext(value: TraceContext | undefined): TraceContext | undefined {
  if (value === undefined) return undefined;
  const printable = (text: unknown): text is string => typeof text === "string" && text.length > 0 && text.length <= 512 && /^[\x20-\x7e]+$/.test(text);
  if (!printable(value.traceparent)) return undefined;
  return printable(value.tracestate) ? { traceparent: value.traceparent, tracestate: value.tracestate } : { traceparent: value.traceparent };
}

function struct(value: JsonObject | undefined, where: string): JsonObject {
  try {
    return jsonObject(value ?? {}, where);
  } catch (error) {
    throw new VerdictError("verdict_invalid_argument", `${where} cannot be sent to Verdict: ${(error as Error).message}`);
  }
}

function resourceMessage(resource: ResourceRef): ResourceMessage {
  return { type: resource.type, id: resource.id ?? "", attributes: struct(resource.attributes, "resource.attributes") };
}

function dpopMessage(dpop: DpopProof): DpopProofMessage {
  return { proof: dpop.proof, method: dpop.method, url: dpop.url };
}

/**
 * The server's pushback on a refusal (gRFC A6: `grpc-retry-pushback-ms`, a non-negative
 * integer of milliseconds; a negative value asks for no retry). Only an overloaded
 * Verdict's RESOURCE_EXHAUSTED says it; anything that is not such a number is ignored.
 */
function pushbackOf(error: grpc.ServiceError): number | undefined {
  return error.code === grpc.status.RESOURCE_EXHAUSTED ? retryPushbackMs(error.metadata) : undefined;
}
