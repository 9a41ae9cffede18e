// ApprovalService over gRPC, as an API with the approvals grant calls it.
import * as grpc from "@grpc/grpc-js";
import {
  ApprovalServiceClient,
  type ApprovalMessage,
  type DecideApprovalRequestMessage,
  type ListApprovalsRequestMessage,
  type ListApprovalsResponseMessage,
} from "@verdict/sdk/wire";
import { unaryCall, type Outcome } from "./grpc.js";

export class ApprovalTestClient {
  private readonly client: ApprovalServiceClient;

  constructor(
    address: string,
    private readonly apiKey: string | null,
  ) {
    this.client = new ApprovalServiceClient(address, grpc.credentials.createInsecure());
  }

  get(id: string): Promise<Outcome<ApprovalMessage>> {
    return unaryCall(this.client.get.bind(this.client), { approval_id: id }, this.apiKey);
  }

  list(filters: Partial<ListApprovalsRequestMessage> = {}): Promise<Outcome<ListApprovalsResponseMessage>> {
    return unaryCall(this.client.list.bind(this.client), { issuer: "", subject: "", client_id: "", status: "", limit: 0, ...filters }, this.apiKey);
  }

  approve(id: string, token: string, reason = ""): Promise<Outcome<ApprovalMessage>> {
    const request: DecideApprovalRequestMessage = { approval_id: id, token, reason };
    return unaryCall(this.client.approve.bind(this.client), request, this.apiKey);
  }

  refuse(id: string, token: string, reason = ""): Promise<Outcome<ApprovalMessage>> {
    return unaryCall(this.client.refuse.bind(this.client), { approval_id: id, token, reason }, this.apiKey);
  }

  close(): void {
    this.client.close();
  }
}
