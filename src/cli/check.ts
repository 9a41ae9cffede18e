import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import {
  API_KEY_METADATA,
  PolicyDecisionServiceClient,
  RETRY_PUSHBACK_METADATA,
  retryPushbackMs,
  type BatchResultMessage,
  type CheckBatchRequestMessage,
  type CheckBatchResponseMessage,
  type CheckRequestMessage,
  type CheckResponseMessage,
} from "@verdict/sdk/wire";
import type { Environment } from "../config/index.js";
import { VerdictError } from "../errors/index.js";
import { isLoopback } from "../server/loopback.js";
import { apiKeyFrom, apiKeyOptions, apiKeyUsage } from "./api-key.js";
import { parseOptions, required, UsageError } from "./args.js";
import { checkFromFlags, readCheckFile, type CheckAsk } from "./check-input.js";

export const usage = `verdict check --token T (--action A --resource TYPE/ID | --input FILE) [options]

  --addr HOST:PORT   Verdict's address (default 127.0.0.1:50051)
${apiKeyUsage(21)}
  --token T          the access token ("-" reads it from standard input)
  --action A         e.g. invoices:read
  --resource TYPE/ID e.g. invoice/inv-42 (the id may be empty: invoice/)
  --context JSON     a JSON object, e.g. '{"amount": 100}'
  --resource-attributes JSON
                     facts about the resource (input.resource.attributes),
                     e.g. '{"classification": "pii"}'
  --input FILE       the request as JSON instead of the four flags above ("-":
                     standard input): {"action", "resource": {"type", "id",
                     "attributes"}, "context"} for a Check, or {"items": [...]}
                     for a CheckBatch (one token, each item decided, printed
                     as {"results": [...]}); "request_id" and "dry_run" may be
                     set too
  --request-id R     carried into logs and the audit trail
  --dry-run          evaluate without applying obligations
  --approval-id ID   retry a request that needed a person's approval, naming it
                     (the approval_required challenge's approval_id)
  --dpop-proof P     the DPoP proof the client sent (with --dpop-method, --dpop-url)
  --tls-ca FILE      connect with TLS, trusting this CA (PEM)
  --tls-cert FILE    with --tls-key: a client certificate for mutual TLS
  --tls-name NAME    the server name to verify (default: the host of --addr)
  --insecure-plaintext
                     allow a plaintext connection to an address beyond
                     loopback (the API key and the token travel in clear);
                     without it, such an --addr needs --tls-ca
  --explain          also show which policy rules fired (and what a shadow
                     bundle said), under "explanation"
  --timeout-ms N     deadline of the call (default 5000)

Prints the whole response as one JSON object. Exits 0 whatever the decision,
non-zero only when no decision was obtained.`;

export async function check(argv: string[], env: Environment): Promise<void> {
  const options = parseOptions(argv, {
    addr: { type: "string", default: "127.0.0.1:50051" },
    ...apiKeyOptions,
    token: { type: "string" },
    action: { type: "string" },
    resource: { type: "string" },
    context: { type: "string" },
    "resource-attributes": { type: "string" },
    input: { type: "string" },
    "request-id": { type: "string" },
    "dry-run": { type: "boolean", default: false },
    "approval-id": { type: "string" },
    "dpop-proof": { type: "string" },
    "dpop-method": { type: "string" },
    "dpop-url": { type: "string" },
    "tls-ca": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "tls-name": { type: "string" },
    "insecure-plaintext": { type: "boolean", default: false },
    explain: { type: "boolean", default: false },
    "timeout-ms": { type: "string", default: "5000" },
  });
  let token = required(options.token, "--token");
  if (token === "-" && options.input === "-") throw new UsageError("--token - and --input - cannot both read standard input");
  const apiKey = apiKeyFrom(options, env, token === "-" ? "--token -" : options.input === "-" ? "--input -" : undefined);
  if (token === "-") token = readFileSync(0, "utf8").trim();
  const ask = whatToAsk(options);
  if (ask.kind === "batch" && options.explain === true) throw new UsageError("--explain is for one Check: a CheckBatch does not carry it");
  const timeoutMs = Number(options["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError("--timeout-ms must be a positive whole number");
  const credentials = channelCredentials(options);
  refusePlaintextBeyondLoopback(options.addr as string, options["tls-ca"] !== undefined, options["insecure-plaintext"] === true);
  const dpop = options["dpop-proof"]
    ? { proof: options["dpop-proof"], method: required(options["dpop-method"], "--dpop-method"), url: required(options["dpop-url"], "--dpop-url") }
    : undefined;
  const call = { addr: options.addr as string, apiKey, timeoutMs, credentials, serverName: options["tls-name"] };
  // The flags win over the file for what both can say.
  const requestId = options["request-id"] ?? ask.requestId ?? "";
  const dryRun = options["dry-run"] === true || ask.dryRun === true;

  if (ask.kind === "batch") {
    const request: CheckBatchRequestMessage = { token, items: ask.items, request_id: requestId, dry_run: dryRun, ...(dpop ? { dpop } : {}) };
    const response = await callVerdict<CheckBatchResponseMessage>(call, (client, metadata, options, done) =>
      client.checkBatch(request, metadata, options, done),
    );
    process.stdout.write(JSON.stringify({ results: response.results.map(resultInProtoOrder) }, null, 2) + "\n");
    return;
  }
  const request: CheckRequestMessage = {
    token,
    ...ask.item,
    request_id: requestId,
    dry_run: dryRun,
    ...(dpop ? { dpop } : {}),
    explain: options.explain === true,
    approval_id: options["approval-id"] ?? ask.item.approval_id,
  };
  const response = await callVerdict<CheckResponseMessage>(call, (client, metadata, options, done) => client.check(request, metadata, options, done));
  process.stdout.write(JSON.stringify(inProtoOrder(response, request.explain === true), null, 2) + "\n");
}

/** One item from the flags, or the request in --input FILE (never both). */
function whatToAsk(options: {
  action?: string | undefined;
  resource?: string | undefined;
  context?: string | undefined;
  "resource-attributes"?: string | undefined;
  input?: string | undefined;
}): CheckAsk {
  if (options.input === undefined) {
    const action = required(options.action, "--action");
    const resource = required(options.resource, "--resource");
    return { kind: "check", item: checkFromFlags(action, resource, options.context, options["resource-attributes"]) };
  }
  const both = (["action", "resource", "context", "resource-attributes"] as const).filter((flag) => options[flag] !== undefined);
  if (both.length > 0) throw new UsageError(`--input FILE holds the whole request: leave out ${both.map((f) => `--${f}`).join(", ")}`);
  return readCheckFile(options.input);
}

/** A batch item's result: its decision in the order of the .proto, or why it was not decided. */
function resultInProtoOrder(result: BatchResultMessage): Record<string, unknown> {
  if (result.response) return inProtoOrder(result.response, false);
  return { error: result.error ?? null };
}

/** The response with its fields in the order of the .proto (absent messages as null; retry_after_ms only when a rate's deny sets it), for people reading it. */
function inProtoOrder(response: CheckResponseMessage, explain: boolean): Record<string, unknown> {
  const { decision, reasons, challenge, principal, obligations, decision_id, policy_revision, explanation, retry_after_ms } = response;
  const shown = explanation ? { ...explanation, shadow: explanation.shadow ?? null } : null;
  return {
    decision,
    reasons,
    challenge: challenge ?? null,
    principal: principal ?? null,
    obligations,
    decision_id,
    policy_revision,
    ...(explain ? { explanation: shown } : {}),
    ...(retry_after_ms ? { retry_after_ms } : {}),
  };
}

/**
 * Thrown when Verdict gave no decision: unreachable, refused the caller, or rejected
 * the request. The message says what happened in words, never grpc-js's own text.
 */
export class CheckCallError extends VerdictError {
  constructor(
    readonly grpcCode: string,
    readonly details: string,
    message: string,
  ) {
    super("check_call_failed", message);
  }
}

/** Details that are Verdict's own answer (a refusal it explains), not the transport's. */
const ANSWERED_BY_VERDICT = new Set([
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.FAILED_PRECONDITION,
]);

/** What a person is told when a call got no decision (`trailers`: the call's, which may say when to retry). */
export function describeCallFailure(code: grpc.status, details: string, addr: string, timeoutMs: number, trailers?: grpc.Metadata): string {
  const unreachable = (why: string) => `cannot reach Verdict at ${addr}: ${why}`;
  if (code === grpc.status.DEADLINE_EXCEEDED) return `no answer from Verdict at ${addr} within ${timeoutMs} ms (--timeout-ms)`;
  if (code === grpc.status.UNAVAILABLE) {
    if (/ECONNREFUSED/.test(details)) return unreachable("connection refused (is verdict serve running there?)");
    if (/Name resolution failed|ENOTFOUND|EAI_AGAIN|getaddrinfo/.test(details)) return unreachable("its host name does not resolve");
    if (/certificate|SSL|TLS|handshake|altname|self[- ]signed/i.test(details))
      return unreachable("the TLS handshake failed (check --tls-ca, and --tls-name for the name its certificate carries)");
    if (/EHOSTUNREACH|ENETUNREACH|ETIMEDOUT/.test(details)) return unreachable("the network does not reach it");
    if (/ECONNRESET|Connection dropped|closed|GOAWAY/i.test(details))
      return unreachable("the connection was closed (a plaintext client to a TLS listener, or the other way round? --tls-ca turns TLS on)");
    return unreachable("it is unavailable");
  }
  if (code === grpc.status.UNAUTHENTICATED || code === grpc.status.PERMISSION_DENIED) return `Verdict at ${addr} did not accept this caller: ${details}`;
  if (ANSWERED_BY_VERDICT.has(code)) return `Verdict refused the request: ${details}`;
  if (code === grpc.status.RESOURCE_EXHAUSTED) {
    if (!details.startsWith("overloaded")) return `Verdict at ${addr} refused the request as too large, or is overloaded`;
    const pushbackMs = retryPushbackMs(trailers);
    const when = pushbackMs === undefined ? "retry later" : `retry after ${formatWait(pushbackMs)} (${RETRY_PUSHBACK_METADATA})`;
    return `Verdict at ${addr} is overloaded: nothing was decided or applied; ${when}`;
  }
  if ((code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) && details.startsWith("internal error"))
    return `Verdict failed without a decision (${details})`;
  return `the call to Verdict at ${addr} failed (${grpc.status[code] ?? code}) without a decision`;
}

/** A wait for people: milliseconds below a second, else seconds to a tenth, rounded up (never sooner than asked). */
function formatWait(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.ceil(ms / 100) / 10} s`;
}

export function channelCredentials(options: {
  "tls-ca"?: string | undefined;
  "tls-cert"?: string | undefined;
  "tls-key"?: string | undefined;
}): grpc.ChannelCredentials {
  const read = (path: string, flag: string) => {
    try {
      return readFileSync(path);
    } catch {
      throw new UsageError(`${flag}: cannot read ${path}`);
    }
  };
  if ((options["tls-cert"] === undefined) !== (options["tls-key"] === undefined)) throw new UsageError("--tls-cert and --tls-key go together");
  if (options["tls-ca"] === undefined) {
    if (options["tls-cert"] !== undefined) throw new UsageError("--tls-cert needs --tls-ca");
    return grpc.credentials.createInsecure();
  }
  return grpc.credentials.createSsl(
    read(options["tls-ca"], "--tls-ca"),
    options["tls-key"] !== undefined ? read(options["tls-key"], "--tls-key") : null,
    options["tls-cert"] !== undefined ? read(options["tls-cert"], "--tls-cert") : null,
  );
}

/**
 * The API key and the token are secrets: sent in plaintext only to this machine,
 * or when asked for by name (as the server's insecure_plaintext), and then loudly.
 */
export function refusePlaintextBeyondLoopback(addr: string, tls: boolean, insecurePlaintext: boolean): void {
  if (tls || isLoopbackAddr(addr)) return;
  if (!insecurePlaintext) {
    throw new UsageError(
      `--addr ${addr} is not a loopback address: without TLS the API key and the token would travel in clear. Give --tls-ca (TLS), or --insecure-plaintext if something else encrypts the hop`,
    );
  }
  process.stderr.write(`[INSECURE] --insecure-plaintext: sending the API key and the token to ${addr} without TLS\n`);
}

function isLoopbackAddr(addr: string): boolean {
  if (addr.startsWith("unix:")) return true;
  const colon = addr.lastIndexOf(":");
  const host = (colon > 0 && !addr.endsWith("]") ? addr.slice(0, colon) : addr).replace(/^\[|\]$/g, "").toLowerCase();
  return isLoopback(host);
}

interface CallOptions {
  addr: string;
  apiKey: string | undefined;
  timeoutMs: number;
  credentials: grpc.ChannelCredentials;
  serverName: string | undefined;
}

type Done<Res> = (error: grpc.ServiceError | null, response: Res) => void;

/** One call to Verdict (Check or CheckBatch) with the API key and a deadline. */
function callVerdict<Res>(
  { addr, apiKey, timeoutMs, credentials, serverName }: CallOptions,
  send: (client: PolicyDecisionServiceClient, metadata: grpc.Metadata, options: grpc.CallOptions, done: Done<Res>) => void,
): Promise<Res> {
  const client = new PolicyDecisionServiceClient(addr, credentials, serverName ? { "grpc.ssl_target_name_override": serverName } : {});
  const metadata = new grpc.Metadata();
  if (apiKey !== undefined) metadata.set(API_KEY_METADATA, apiKey);
  return new Promise((resolve, reject) => {
    send(client, metadata, { deadline: Date.now() + timeoutMs }, (error, response) => {
      client.close();
      if (error) {
        const code = grpc.status[error.code] ?? String(error.code);
        reject(new CheckCallError(code, error.details, describeCallFailure(error.code, error.details, addr, timeoutMs, error.metadata)));
      } else resolve(response);
    });
  });
}
