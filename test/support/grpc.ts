// A plain gRPC client of the PolicyDecisionService, for tests that talk to a real
// server over a socket.
import * as grpc from "@grpc/grpc-js";
import { loadVerdictProto, toStruct, type CheckRequestMessage, type CheckResponseMessage, type JsonObject } from "@verdict/sdk/wire";

export interface CheckArgs {
  token: string;
  action: string;
  resource?: { type: string; id: string; attributes?: JsonObject } | null;
  context?: JsonObject;
  requestId?: string;
  dryRun?: boolean;
  explain?: boolean;
}

export type CallResult = { ok: true; response: CheckResponseMessage } | { ok: false; code: grpc.status; details: string };

export class TestClient {
  private readonly client: grpc.Client & Record<string, unknown>;

  constructor(
    address: string,
    private readonly apiKey: string | undefined,
  ) {
    const { PolicyDecisionService } = loadVerdictProto().verdict.v1;
    this.client = new PolicyDecisionService(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, unknown>;
  }

  /** Resolves with the response; rejects when the call fails. */
  async check(args: CheckArgs): Promise<CheckResponseMessage> {
    const result = await this.call(args);
    if (!result.ok) throw new Error(`Check failed: ${grpc.status[result.code]} ${result.details}`);
    return result.response;
  }

  /** `apiKey: null` sends no key at all. */
  call(args: CheckArgs, apiKey: string | null = this.apiKey ?? null): Promise<CallResult> {
    return this.callRaw(
      {
        token: args.token,
        action: args.action,
        resource: args.resource === null ? null : { type: "invoice", id: "inv-1", ...args.resource, attributes: toStruct(args.resource?.attributes ?? {}) },
        context: toStruct(args.context ?? {}),
        request_id: args.requestId ?? "",
        dry_run: args.dryRun ?? false,
        explain: args.explain ?? false,
      },
      apiKey,
    );
  }

  callRaw(request: CheckRequestMessage, apiKey: string | null = this.apiKey ?? null): Promise<CallResult> {
    const metadata = new grpc.Metadata();
    if (apiKey !== null) metadata.set("x-verdict-api-key", apiKey);
    const check = this.client["Check"] as (
      request: CheckRequestMessage,
      metadata: grpc.Metadata,
      options: grpc.CallOptions,
      callback: (error: grpc.ServiceError | null, response: CheckResponseMessage) => void,
    ) => void;
    return new Promise((resolve) => {
      check.call(this.client, request, metadata, { deadline: Date.now() + 20_000 }, (error, response) => {
        if (error) resolve({ ok: false, code: error.code, details: error.details });
        else resolve({ ok: true, response });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
