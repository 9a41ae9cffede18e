// verdict approvals list|approve|refuse: a person's yes or no to one request an
// agent made for them, through a running Verdict's ApprovalService (the calling
// API needs the approvals grant; the dev API has it). Approving takes the
// person's own token, never the agent's (docs/approvals.md).
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { API_KEY_METADATA, ApprovalServiceClient, type ApprovalMessage } from "@verdict/sdk/wire";
import type { Environment } from "../config/index.js";
import { actorChain } from "./actor-chain.js";
import { apiKeyFrom, apiKeyOptions, apiKeyUsage } from "./api-key.js";
import { parseOptions, required, UsageError } from "./args.js";
import { channelCredentials, CheckCallError, describeCallFailure, refusePlaintextBeyondLoopback } from "./check.js";
import { printable } from "./printable.js";

export const usage = `verdict approvals list [filters] | approve ID --token T | refuse ID --token T

  list                 approvals, newest first
    --sub S            the user the requests were made for
    --agent CLIENT_ID  the agent that made them
    --status S         pending, approved, refused, consumed or expired
    --limit N          at most N (default 50, at most 500)
  approve ID           say yes to approval ID
  refuse ID            say no to it
    --token T          YOUR access token ("-" reads it from standard input), for the
                       API the request was made to, meeting the approval's acr and
                       max_age; never the agent's token
    --reason TEXT      why, kept in the audit trail
  --json               JSON instead of a table (list) or a summary (approve, refuse)
  --addr HOST:PORT     Verdict's address (default 127.0.0.1:50051)
${apiKeyUsage(23, "approvals")}
  --tls-ca FILE        connect with TLS, trusting this CA (PEM); --tls-cert/--tls-key for mutual TLS
  --timeout-ms N       how long to wait for an answer (default 5000)`;

export async function approvals(argv: string[], env: Environment): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== "list" && sub !== "approve" && sub !== "refuse")
    throw new UsageError(sub ? `unknown approvals command ${sub}` : "approvals needs a command: list, approve or refuse");
  // approve ID / refuse ID: the id comes first.
  const id = sub === "list" ? undefined : rest[0] !== undefined && !rest[0].startsWith("-") ? rest.shift() : undefined;
  const options = parseOptions(rest, {
    addr: { type: "string", default: "127.0.0.1:50051" },
    ...apiKeyOptions,
    token: { type: "string" },
    reason: { type: "string" },
    sub: { type: "string" },
    agent: { type: "string" },
    status: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean", default: false },
    "tls-ca": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "tls-name": { type: "string" },
    "insecure-plaintext": { type: "boolean", default: false },
    "timeout-ms": { type: "string", default: "5000" },
  });
  const addr = options.addr as string;
  const timeoutMs = Number(options["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError("--timeout-ms must be a positive whole number");
  const credentials = channelCredentials(options);
  refusePlaintextBeyondLoopback(addr, options["tls-ca"] !== undefined, options["insecure-plaintext"] === true);
  const apiKey = apiKeyFrom(options, env, options.token === "-" ? "--token -" : undefined);
  const client = new ApprovalServiceClient(addr, credentials, options["tls-name"] ? { "grpc.ssl_target_name_override": options["tls-name"] } : {});
  const metadata = new grpc.Metadata();
  if (apiKey !== undefined) metadata.set(API_KEY_METADATA, apiKey);
  const call = <T>(run: (done: (error: grpc.ServiceError | null, response: T) => void) => void): Promise<T> =>
    new Promise<T>((resolve, reject) =>
      run((error, response) => {
        if (error)
          reject(
            new CheckCallError(
              grpc.status[error.code] ?? String(error.code),
              error.details,
              describeCallFailure(error.code, error.details, addr, timeoutMs, error.metadata),
            ),
          );
        else resolve(response);
      }),
    );
  const deadline = { deadline: Date.now() + timeoutMs };
  try {
    if (sub === "list") {
      const limit = options.limit === undefined ? 0 : Number(options.limit);
      if (!Number.isInteger(limit) || limit < 0) throw new UsageError("--limit must be a whole number");
      const request = { issuer: "", subject: options.sub ?? "", client_id: options.agent ?? "", status: options.status ?? "", limit };
      const { approvals: found } = await call<{ approvals: ApprovalMessage[] }>((done) => client.list(request, metadata, deadline, done));
      if (options.json) for (const approval of found) process.stdout.write(JSON.stringify(approval) + "\n");
      else process.stdout.write(approvalsTable(found));
      return;
    }
    if (id === undefined) throw new UsageError(`approvals ${sub} needs the approval id: verdict approvals ${sub} ID --token T`);
    let token = required(options.token, "--token");
    if (token === "-") token = readFileSync(0, "utf8").trim();
    const request = { approval_id: id, token, reason: options.reason ?? "" };
    const approval = await call<ApprovalMessage>((done) =>
      sub === "approve" ? client.approve(request, metadata, deadline, done) : client.refuse(request, metadata, deadline, done),
    );
    process.stdout.write(
      options.json
        ? JSON.stringify(approval) + "\n"
        : printable(`${approval.approval_id} ${approval.status} by ${approval.decided_by?.subject ?? "?"} (acr ${approval.decided_by?.acr || "-"})`) + "\n",
    );
  } finally {
    client.close();
  }
}

/** `verdict approvals list`'s table. */
export function approvalsTable(approvals: readonly ApprovalMessage[]): string {
  const rows = approvals.map((a) => [
    a.approval_id,
    a.status,
    a.subject,
    a.client_id,
    // the act chain it was asked through, as `verdict audit query` shows one
    actorChain(a.actors.map(({ subject, client_id, issuer }) => ({ subject, client_id, iss: issuer }))),
    a.action,
    `${a.resource?.type ?? ""}/${a.resource?.id ?? ""}`,
    JSON.stringify(a.context ?? {}),
    a.expires_at,
  ]);
  const header = ["APPROVAL ID", "STATUS", "SUBJECT", "AGENT", "ACTORS", "ACTION", "RESOURCE", "CONTEXT", "EXPIRES"];
  // Subjects, client ids, issuers and context come from tokens and requests: shown as they are, never reordered.
  const all = [header, ...rows].map((row) => row.map(printable));
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]?.length ?? 0)));
  return (
    all
      .map((row) =>
        row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}
