// Plain gRPC clients of Verdict's services (the generated ones), for tests that
// talk to a real server over a socket.
import * as grpc from "@grpc/grpc-js";
import {
  API_KEY_METADATA,
  PolicyDecisionServiceClient,
  type CheckBatchRequestMessage,
  type CheckBatchResponseMessage,
  type CheckRequestMessage,
  type CheckResponseMessage,
  type JsonObject,
  type ReleaseResponseMessage,
  type ResourceMessage,
} from "@verdict/sdk/wire";

export interface CheckArgs {
  token: string;
  action: string;
  resource?: { type: string; id: string; attributes?: JsonObject } | null;
  context?: JsonObject;
  requestId?: string;
  dryRun?: boolean;
  dpop?: { proof: string; method: string; url: string };
  explain?: boolean;
  /** The approval a retry names. */
  approvalId?: string;
}

/** A refusal's `metadata` is its trailers (e.g. grpc-retry-pushback-ms on an overload). */
export type Outcome<Response> = { ok: true; response: Response } | { ok: false; code: grpc.status; details: string; metadata: grpc.Metadata };
export type CallResult = Outcome<CheckResponseMessage>;

/** A unary method of a generated client, as callback-style grpc-js calls it. */
export type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Response) => void,
) => grpc.ClientUnaryCall;

/** One unary call with the API key (none when null), with a deadline `deadlineMs` from now; never rejects. */
export function unaryCall<Request, Response>(
  method: UnaryMethod<Request, Response>,
  request: Request,
  apiKey: string | null,
  deadlineMs = 20_000,
): Promise<Outcome<Response>> {
  const metadata = new grpc.Metadata();
  if (apiKey !== null) metadata.set(API_KEY_METADATA, apiKey);
  return new Promise((resolve) => {
    method(request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
      if (error) resolve({ ok: false, code: error.code, details: error.details, metadata: error.metadata });
      else resolve({ ok: true, response });
    });
  });
}

/**
 * Sends bytes as they are (no serialization on this side) to a PolicyDecisionService
 * method: for requests no well-behaved client can build, e.g. a Struct nested past
 * protobufjs's own encoding limit.
 */
export function rawUnary(address: string, method: string, bytes: Buffer, apiKey: string): Promise<Outcome<Buffer>> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("x-verdict-api-key", apiKey);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `/verdict.v1.PolicyDecisionService/${method}`,
      (value: Buffer) => value,
      (value: Buffer) => value,
      bytes,
      metadata,
      { deadline: Date.now() + 20_000 },
      (error, response) => {
        client.close();
        if (error) resolve({ ok: false, code: error.code, details: error.details, metadata: error.metadata });
        else resolve({ ok: true, response: response as Buffer });
      },
    );
  });
}

/** A protobuf length-delimited field (wire type 2), for requests built by hand (rawUnary). */
export function protobufField(number: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((number << 3) | 2), varint(payload.length), payload]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** The wire resource for a test request: an invoice unless said otherwise; null sends none. */
function resourceOf(resource: CheckArgs["resource"]): ResourceMessage | undefined {
  return resource === null ? undefined : { type: "invoice", id: "inv-1", ...resource, attributes: resource?.attributes ?? {} };
}

export class TestClient {
  private readonly client: PolicyDecisionServiceClient;

  constructor(
    address: string,
    private readonly apiKey: string | undefined,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    options: grpc.ClientOptions = {},
  ) {
    this.client = new PolicyDecisionServiceClient(address, credentials, options);
  }

  /** Resolves with the response; rejects when the call fails. */
  async check(args: CheckArgs): Promise<CheckResponseMessage> {
    const result = await this.call(args);
    if (!result.ok) throw new Error(`Check failed: ${grpc.status[result.code]} ${result.details}`);
    return result.response;
  }

  /**
   * Check, asked again (a few times) while it is refused as state_unavailable: at the 50 ms default a pause of a
   * shared test machine can fail a state call closed, which is right, but not the answer a test of something else is after.
   */
  async checkPastPauses(args: CheckArgs, attempts = 20): Promise<CheckResponseMessage> {
    for (let attempt = 1; ; attempt++) {
      const response = await this.check(args);
      if (response.reasons[0]?.code !== "state_unavailable" || attempt >= attempts) return response;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** CheckBatch: one token, many items; resolves with the call's outcome. */
  checkBatch(
    args: {
      token: string;
      items: (Pick<CheckArgs, "action" | "context" | "approvalId"> & { resource?: CheckArgs["resource"] })[];
      requestId?: string;
      dryRun?: boolean;
      dpop?: CheckArgs["dpop"];
      /** The call's deadline, from now (20 s when not given). */
      deadlineMs?: number;
    },
    apiKey: string | null = this.apiKey ?? null,
  ): Promise<Outcome<CheckBatchResponseMessage>> {
    const request: CheckBatchRequestMessage = {
      token: args.token,
      items: args.items.map((item) => ({
        action: item.action,
        resource: resourceOf(item.resource),
        context: item.context ?? {},
        approval_id: item.approvalId ?? "",
      })),
      request_id: args.requestId ?? "",
      dry_run: args.dryRun ?? false,
      ...(args.dpop ? { dpop: args.dpop } : {}),
    };
    return unaryCall(this.client.checkBatch.bind(this.client), request, apiKey, args.deadlineMs);
  }

  /** `apiKey: null` sends no key at all. */
  call(args: CheckArgs, apiKey: string | null = this.apiKey ?? null): Promise<CallResult> {
    return this.callRaw(
      {
        token: args.token,
        action: args.action,
        resource: resourceOf(args.resource),
        context: args.context ?? {},
        request_id: args.requestId ?? "",
        dry_run: args.dryRun ?? false,
        ...(args.dpop ? { dpop: args.dpop } : {}),
        explain: args.explain ?? false,
        approval_id: args.approvalId ?? "",
      },
      apiKey,
    );
  }

  callRaw(request: CheckRequestMessage, apiKey: string | null = this.apiKey ?? null): Promise<CallResult> {
    return unaryCall(this.client.check.bind(this.client), request, apiKey);
  }

  /** Resolves with Release's response, or a failed call's status. */
  release(decisionId: string, apiKey: string | null = this.apiKey ?? null): Promise<Outcome<ReleaseResponseMessage>> {
    return unaryCall(this.client.release.bind(this.client), { decision_id: decisionId }, apiKey);
  }

  close(): void {
    this.client.close();
  }
}
