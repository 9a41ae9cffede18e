// A plain gRPC client of AdminService (suspensions), for tests over a socket.
import * as grpc from "@grpc/grpc-js";
import {
  AdminServiceClient,
  type ListSuspensionsResponseMessage,
  type ResumeResponseMessage,
  type SuspendResponseMessage,
  type SuspensionTargetMessage,
} from "@verdict/sdk/wire";
import { unaryCall, type Outcome } from "./grpc.js";

export type TargetArgs = Partial<SuspensionTargetMessage> & { kind: string };

export function target(args: TargetArgs): SuspensionTargetMessage {
  return { issuer: "", subject: "", client_id: "", token_id: "", session_id: "", ...args };
}

export class TestAdminClient {
  private readonly client: AdminServiceClient;

  constructor(
    address: string,
    private readonly apiKey: string | null,
  ) {
    this.client = new AdminServiceClient(address, grpc.credentials.createInsecure());
  }

  suspend(args: { target: TargetArgs; reason?: string; seconds?: number; by?: string }, apiKey = this.apiKey): Promise<Outcome<SuspendResponseMessage>> {
    return unaryCall(
      this.client.suspend.bind(this.client),
      { target: target(args.target), reason: args.reason ?? "testing", duration_seconds: args.seconds ?? 0, by: args.by ?? "tester" },
      apiKey,
    );
  }

  resume(args: { target?: TargetArgs; id?: string; reason?: string }, apiKey = this.apiKey): Promise<Outcome<ResumeResponseMessage>> {
    return unaryCall(
      this.client.resume.bind(this.client),
      { ...(args.target ? { target: target(args.target) } : {}), id: args.id ?? "", reason: args.reason ?? "", by: "tester" },
      apiKey,
    );
  }

  list(args: { kind?: string; limit?: number } = {}, apiKey = this.apiKey): Promise<Outcome<ListSuspensionsResponseMessage>> {
    return unaryCall(this.client.list.bind(this.client), { kind: args.kind ?? "", limit: args.limit ?? 0 }, apiKey);
  }

  close(): void {
    this.client.close();
  }
}

/** The response of a call that must succeed. */
export function ok<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw new Error(`call failed: ${grpc.status[outcome.code]} ${outcome.details}`);
  return outcome.response;
}
