// A plain gRPC client of AuditService, for tests that query the trail over a socket.
import * as grpc from "@grpc/grpc-js";
import { loadVerdictProto, type AuditQueryRequestMessage, type AuditQueryResponseMessage } from "@verdict/sdk/wire";

export type QueryResult = { ok: true; response: AuditQueryResponseMessage } | { ok: false; code: grpc.status; details: string };

export class AuditTestClient {
  private readonly client: grpc.Client & Record<string, unknown>;

  constructor(
    address: string,
    private readonly apiKey: string | null,
  ) {
    const { AuditService } = loadVerdictProto().verdict.v1;
    this.client = new AuditService(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, unknown>;
  }

  async query(request: AuditQueryRequestMessage = {}): Promise<AuditQueryResponseMessage> {
    const result = await this.call(request);
    if (!result.ok) throw new Error(`Query failed: ${grpc.status[result.code]} ${result.details}`);
    return result.response;
  }

  call(request: AuditQueryRequestMessage = {}): Promise<QueryResult> {
    const metadata = new grpc.Metadata();
    if (this.apiKey !== null) metadata.set("x-verdict-api-key", this.apiKey);
    const query = this.client["Query"] as (
      request: AuditQueryRequestMessage,
      metadata: grpc.Metadata,
      options: grpc.CallOptions,
      callback: (error: grpc.ServiceError | null, response: AuditQueryResponseMessage) => void,
    ) => void;
    return new Promise((resolve) => {
      query.call(this.client, request, metadata, { deadline: Date.now() + 20_000 }, (error, response) => {
        if (error) resolve({ ok: false, code: error.code, details: error.details });
        else resolve({ ok: true, response });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
