// The gRPC client of Verdict's PolicyDecisionService: one channel per client,
// reused and kept alive, with typed results and typed errors.
import * as grpc from "@grpc/grpc-js";
import { toBatchResults, toDecision, toReleaseResult, type BatchItemResult, type Decision, type ReleaseResult } from "./decision.js";
import { VerdictError, type VerdictErrorCode } from "./errors.js";
import {
  loadVerdictProto,
  toStruct,
  type BatchResultMessage,
  type CheckBatchRequestMessage,
  type CheckRequestMessage,
  type CheckResponseMessage,
  type DpopProofMessage,
  type JsonObject,
  type ReleaseRequestMessage,
  type ReleaseResponseMessage,
  type ResourceMessage,
} from "./wire/index.js";

export const API_KEY_METADATA = "x-verdict-api-key";
export const DEFAULT_DEADLINE_MS = 1_000;
const SERVICE = "verdict.v1.PolicyDecisionService";

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
}

export interface BatchItem {
  action: string;
  resource: ResourceRef;
  context?: JsonObject;
}

export interface CheckBatchRequest {
  token: string;
  items: BatchItem[];
  requestId?: string;
  dpop?: DpopProof;
  dryRun?: boolean;
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

type Unary<Req, Res> = (request: Req, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: Res) => void) => grpc.ClientUnaryCall;

interface PolicyDecisionStub extends grpc.Client {
  Check: Unary<CheckRequestMessage, CheckResponseMessage>;
  CheckBatch: Unary<CheckBatchRequestMessage, { results: BatchResultMessage[] }>;
  Release: Unary<ReleaseRequestMessage, ReleaseResponseMessage>;
}

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
const SERVICE_CONFIG = {
  methodConfig: [
    {
      name: [{ service: SERVICE, method: "Release" }],
      retryPolicy: { maxAttempts: 3, initialBackoff: "0.1s", maxBackoff: "1s", backoffMultiplier: 2, retryableStatusCodes: ["UNAVAILABLE"] },
    },
  ],
  retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
};

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.enable_retries": 1,
  "grpc.service_config": JSON.stringify(SERVICE_CONFIG),
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
  const host = withoutScheme.startsWith("[") ? withoutScheme.slice(1, withoutScheme.indexOf("]")) : withoutScheme.replace(/:\d+$/, "");
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

function channelCredentials(options: VerdictClientOptions): grpc.ChannelCredentials {
  const tls = options.tls;
  if (tls === false) {
    if (!isLoopback(options.address) && options.insecurePlaintext !== true) {
      throw invalidOptions(
        `tls: false would send tokens in clear to ${options.address}; use TLS, or set insecurePlaintext: true if a mesh encrypts the hop`,
      );
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
  const channelOptions: grpc.ChannelOptions = {
    ...CHANNEL_OPTIONS,
    ...(serverName ? { "grpc.ssl_target_name_override": serverName, "grpc.default_authority": serverName } : {}),
  };
  const { PolicyDecisionService } = loadVerdictProto().verdict.v1;
  const stub = new PolicyDecisionService(options.address, channelCredentials({ ...options, tls }), channelOptions) as unknown as PolicyDecisionStub;
  let closed = false;

  function call<Req, Res>(method: Unary<Req, Res>, request: Req, callOptions: CallOptions | undefined): Promise<Res> {
    if (closed) return Promise.reject(new VerdictError("verdict_client_closed", "the Verdict client is closed"));
    const deadlineMs = positiveMs(callOptions?.deadlineMs, defaultDeadlineMs, "deadlineMs");
    const metadata = new grpc.Metadata();
    if (apiKey !== undefined) metadata.set(API_KEY_METADATA, apiKey);
    return new Promise<Res>((resolve, reject) => {
      try {
        method.call(stub, request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
          if (error) reject(fromGrpcError(error));
          else if (response === undefined || response === null) reject(new VerdictError("verdict_malformed_response", "Verdict answered without a message"));
          else resolve(response);
        });
      } catch (error) {
        // grpc-js throws synchronously when the channel was closed under us.
        reject(new VerdictError(closed ? "verdict_client_closed" : "verdict_internal_error", `the call could not start: ${(error as Error).message}`));
      }
    });
  }

  function fromGrpcError(error: grpc.ServiceError): VerdictError {
    const status = grpc.status[error.code] ?? String(error.code);
    const code: VerdictErrorCode = closed && error.code === grpc.status.CANCELLED ? "verdict_client_closed" : (ERROR_CODES[error.code as grpc.status] ?? "verdict_internal_error");
    return new VerdictError(code, `Verdict call failed: ${status}: ${error.details}`, status);
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
        ...(request.dpop ? { dpop: dpopMessage(request.dpop) } : {}),
      };
      return toDecision(await call(stub.Check, message, callOptions));
    },

    async checkBatch(request, callOptions) {
      const message: CheckBatchRequestMessage = {
        token: request.token,
        items: request.items.map((item) => ({ action: item.action, resource: resourceMessage(item.resource), context: struct(item.context, "context") })),
        request_id: request.requestId ?? "",
        dry_run: request.dryRun === true,
        ...(request.dpop ? { dpop: dpopMessage(request.dpop) } : {}),
      };
      const response = await call(stub.CheckBatch, message, callOptions);
      return toBatchResults(response.results, request.items.length);
    },

    async release(decisionId, callOptions) {
      return toReleaseResult(await call(stub.Release, { decision_id: decisionId }, callOptions));
    },

    close() {
      if (closed) return;
      closed = true;
      stub.close();
    },
  };
}

function struct(value: JsonObject | undefined, where: string) {
  try {
    return toStruct(value ?? {});
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
