// A plain gRPC client of AuditService, for tests that query the trail over a socket.
import * as grpc from "@grpc/grpc-js";
import { loadVerdictProto, type AuditQueryRequestMessage, type AuditQueryResponseMessage } from "@verdict/sdk/wire";
import { unaryCall, type Outcome } from "./grpc.js";

export type QueryResult = Outcome<AuditQueryResponseMessage>;

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
    return unaryCall(this.client, "Query", request, this.apiKey);
  }

  close(): void {
    this.client.close();
  }
}
