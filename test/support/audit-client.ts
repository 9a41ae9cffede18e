// A plain gRPC client of AuditService, for tests that query the trail over a socket.
import * as grpc from "@grpc/grpc-js";
import { AuditServiceClient, type AuditQueryRequestMessage, type AuditQueryResponseMessage } from "@verdict/sdk/wire";
import { unaryCall, type Outcome } from "./grpc.js";

export type QueryResult = Outcome<AuditQueryResponseMessage>;

/** Every filter unset (proto3 defaults), with `filters` over it. */
function queryRequest(filters: Partial<AuditQueryRequestMessage>): AuditQueryRequestMessage {
  return {
    subject: "",
    client_id: "",
    action: "",
    decision: "",
    reason: "",
    api: "",
    since: "",
    until: "",
    limit: 0,
    page_token: "",
    kind: "",
    approval_id: "",
    ...filters,
  };
}

export class AuditTestClient {
  private readonly client: AuditServiceClient;

  constructor(
    address: string,
    private readonly apiKey: string | null,
  ) {
    this.client = new AuditServiceClient(address, grpc.credentials.createInsecure());
  }

  async query(filters: Partial<AuditQueryRequestMessage> = {}): Promise<AuditQueryResponseMessage> {
    const result = await this.call(filters);
    if (!result.ok) throw new Error(`Query failed: ${grpc.status[result.code]} ${result.details}`);
    return result.response;
  }

  call(filters: Partial<AuditQueryRequestMessage> = {}): Promise<QueryResult> {
    return unaryCall(this.client.query.bind(this.client), queryRequest(filters), this.apiKey);
  }

  close(): void {
    this.client.close();
  }
}
