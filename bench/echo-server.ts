// The floor: a bare grpc-js server of Verdict's own service that decodes each Check
// and answers a fixed ALLOW, with no authentication, token, policy, state or audit.
// What is left is what Node and grpc-js cost per call on this machine.
//   node --import tsx bench/echo-server.ts   → prints "echo listening on 127.0.0.1:PORT"
import * as grpc from "@grpc/grpc-js";
import {
  PolicyDecisionServiceService,
  type CheckBatchRequestMessage,
  type CheckBatchResponseMessage,
  type CheckRequestMessage,
  type CheckResponseMessage,
} from "@verdict/sdk/wire";

const ALLOW: CheckResponseMessage = {
  decision: "ALLOW",
  reasons: [],
  challenge: undefined,
  principal: undefined,
  obligations: [],
  decision_id: "echo",
  policy_revision: "echo",
  retry_after_ms: 0,
};

const server = new grpc.Server();
server.addService(PolicyDecisionServiceService, {
  check: (_call: grpc.ServerUnaryCall<CheckRequestMessage, CheckResponseMessage>, callback: grpc.sendUnaryData<CheckResponseMessage>) => callback(null, ALLOW),
  checkBatch: (call: grpc.ServerUnaryCall<CheckBatchRequestMessage, CheckBatchResponseMessage>, callback: grpc.sendUnaryData<CheckBatchResponseMessage>) =>
    callback(null, { results: call.request.items.map(() => ({ response: ALLOW })) }),
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`echo listening on 127.0.0.1:${port}\n`);
});
process.once("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
