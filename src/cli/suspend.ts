// `verdict suspend`, `verdict resume`, `verdict suspensions`: the kill switch, through
// a running Verdict's AdminService (the calling API needs the suspensions grant; the
// development profile's API holds it). docs/suspensions.md.
import { userInfo } from "node:os";
import * as grpc from "@grpc/grpc-js";
import { AdminServiceClient, API_KEY_METADATA, type SuspensionMessage, type SuspensionTargetMessage } from "@verdict/sdk/wire";
import type { Environment } from "../config/index.js";
import { apiKeyFrom, apiKeyOptions, apiKeyUsage } from "./api-key.js";
import { parseOptions, required, UsageError } from "./args.js";
import { channelCredentials, CheckCallError, describeCallFailure, refusePlaintextBeyondLoopback } from "./check.js";
import { printable } from "./printable.js";

const CONNECTION = `  --addr HOST:PORT   Verdict's address (default 127.0.0.1:50051)
${apiKeyUsage(21, "suspensions")}
  --tls-ca FILE      connect with TLS, trusting this CA (PEM)
  --tls-cert FILE    with --tls-key: a client certificate for mutual TLS
  --tls-name NAME    the server name to verify (default: the host of --addr)
  --insecure-plaintext  allow plaintext beyond loopback
  --timeout-ms N     deadline of the call (default 5000)
  --json             print the answer as JSON`;

const TARGET = `  --agent CLIENT_ID  the agent: every token of that client (also where it acts in an act chain)
  --user SUB         the user (token subject); with --agent: only the user's delegation to that agent
  --token JTI        one token (its jti)
  --session SID      one session (the sid claim)
  --issuer ISS       only under this issuer (default: every trusted issuer)`;

export const suspendUsage = `verdict suspend TARGET --reason TEXT [--for DURATION] [options]

${TARGET}
  --reason TEXT      why (kept in the audit trail; never shown to the suspended caller)
  --for DURATION     90s, 15m, 1h, 7d (default: until resumed)
  --by NAME          who is suspending (default: your user name)
${CONNECTION}

Every Verdict replica denies the target (principal_suspended) within a second.
Suspending what is already suspended changes nothing, unless it then ends more
than a minute later (extended).`;

export const resumeUsage = `verdict resume TARGET | --id ID [--reason TEXT] [options]

${TARGET}
  --id ID            one suspension (verdict suspensions shows ids)
  --reason TEXT      why (kept in the audit trail)
  --by NAME          who is resuming (default: your user name)
${CONNECTION}

Lifts every suspension in force of the target (whoever made it). Resuming what is
not suspended says so and changes nothing.`;

export const listUsage = `verdict suspensions [--kind K] [--limit N] [options]

  --kind K           agent, user, delegation, token or session (default: all)
  --limit N          at most N, newest first (default 100, at most 1000)
${CONNECTION}`;

const connectionOptions = {
  addr: { type: "string", default: "127.0.0.1:50051" },
  ...apiKeyOptions,
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-name": { type: "string" },
  "insecure-plaintext": { type: "boolean", default: false },
  "timeout-ms": { type: "string", default: "5000" },
  json: { type: "boolean", default: false },
} as const;

const targetOptions = {
  agent: { type: "string" },
  user: { type: "string" },
  token: { type: "string" },
  session: { type: "string" },
  issuer: { type: "string" },
} as const;

export async function suspend(argv: string[], env: Environment): Promise<void> {
  const options = parseOptions(argv, { ...connectionOptions, ...targetOptions, reason: { type: "string" }, for: { type: "string" }, by: { type: "string" } });
  const target = targetOf(options);
  const reason = required(options.reason, "--reason");
  const seconds = options.for !== undefined ? parseDuration(options.for) : 0;
  const admin = connect(options, env);
  const answer = await admin.call("suspend", { target, reason, duration_seconds: seconds, by: options.by ?? whoAmI() });
  if (options.json) return print(answer);
  const said = {
    suspended: "suspended",
    extended: "extended (it was already suspended, now for longer)",
    already_suspended: "already suspended: nothing changed",
  };
  process.stdout.write(`${printable(said[answer.status as keyof typeof said] ?? answer.status)}: ${answer.suspension ? describe(answer.suspension) : ""}\n`);
}

export async function resume(argv: string[], env: Environment): Promise<void> {
  const options = parseOptions(argv, { ...connectionOptions, ...targetOptions, id: { type: "string" }, reason: { type: "string" }, by: { type: "string" } });
  const hasTarget = [options.agent, options.user, options.token, options.session].some((value) => value !== undefined);
  if ((options.id !== undefined) === hasTarget) throw new UsageError("resume needs a target (--agent, --user, --token, --session) or --id, not both");
  const admin = connect(options, env);
  const answer = await admin.call("resume", {
    id: options.id ?? "",
    ...(options.id === undefined ? { target: targetOf(options) } : {}),
    reason: options.reason ?? "",
    by: options.by ?? whoAmI(),
  });
  if (options.json) return print(answer);
  if (answer.resumed.length === 0) process.stdout.write("nothing to resume: no suspension in force matches\n");
  for (const lifted of answer.resumed) process.stdout.write(`resumed: ${describe(lifted)}\n`);
}

export async function suspensions(argv: string[], env: Environment): Promise<void> {
  const options = parseOptions(argv, { ...connectionOptions, kind: { type: "string" }, limit: { type: "string" } });
  const limit = options.limit !== undefined ? Number(options.limit) : 0;
  if (!Number.isInteger(limit) || limit < 0) throw new UsageError("--limit must be a whole number");
  const admin = connect(options, env);
  const answer = await admin.call("list", { kind: options.kind ?? "", limit });
  if (options.json) {
    for (const item of answer.suspensions) process.stdout.write(JSON.stringify(item) + "\n");
    return;
  }
  if (answer.suspensions.length === 0) {
    process.stdout.write("no suspensions in force\n");
    return;
  }
  for (const item of answer.suspensions) process.stdout.write(`${printable(item.id)}  ${describe(item)}\n`);
}

type Options = { [K in keyof typeof connectionOptions]?: K extends "insecure-plaintext" | "json" ? boolean : string };
type TargetOptions = {
  agent?: string | undefined;
  user?: string | undefined;
  token?: string | undefined;
  session?: string | undefined;
  issuer?: string | undefined;
};

/** The flags as a target: --user with --agent is the user's delegation to that agent. */
function targetOf(options: TargetOptions): SuspensionTargetMessage {
  const { agent, user, token, session } = options;
  const empty = { issuer: options.issuer ?? "", subject: "", client_id: "", token_id: "", session_id: "" };
  const given = [agent !== undefined || user !== undefined, token !== undefined, session !== undefined].filter(Boolean).length;
  if (given !== 1) throw new UsageError("name one target: --agent, --user (with --agent: a delegation), --token or --session");
  if (token !== undefined) return { ...empty, kind: "token", token_id: token };
  if (session !== undefined) return { ...empty, kind: "session", session_id: session };
  if (user !== undefined && agent !== undefined) return { ...empty, kind: "delegation", subject: user, client_id: agent };
  if (user !== undefined) return { ...empty, kind: "user", subject: user };
  return { ...empty, kind: "agent", client_id: agent ?? "" };
}

function parseDuration(text: string): number {
  const match = /^(\d{1,9})(s|m|h|d)$/.exec(text);
  if (!match) throw new UsageError("--for must be a duration such as 90s, 15m, 1h or 7d");
  const seconds = Number(match[1]) * { s: 1, m: 60, h: 3_600, d: 86_400 }[match[2] as "s" | "m" | "h" | "d"];
  if (seconds <= 0) throw new UsageError("--for must be longer than 0");
  return seconds;
}

function whoAmI(): string {
  try {
    return userInfo().username;
  } catch {
    return "";
  }
}

/**
 * "agent agent-7 until 2026-12-01T12:00:00.000Z (admin, by alice via grpc): loops on refunds", printable: the
 * subject, the client, the issuer and the reason may come from a token or an identity provider (SSF).
 */
export function describe(item: SuspensionMessage): string {
  const t = item.target;
  const who = {
    agent: `agent ${t?.client_id ?? ""}`,
    user: `user ${t?.subject ?? ""}`,
    delegation: `delegation ${t?.subject ?? ""} → ${t?.client_id ?? ""}`,
    token: `token ${t?.token_id ?? ""}`,
    session: `session ${t?.session_id ?? ""}`,
  }[t?.kind ?? ""];
  const issuer = t?.issuer ? ` (issuer ${t.issuer})` : "";
  const until = item.issued_before ? ` tokens issued before ${item.issued_before}` : item.until ? ` until ${item.until}` : " until resumed";
  const by = item.by_subject || item.by_api || item.by_via;
  return printable(`${who ?? t?.kind ?? "?"}${issuer}${until} (${item.source}, by ${by} via ${item.by_via}, since ${item.since}): ${item.reason}`);
}

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

/** One AdminService client for one command: each call rejects with what a person can act on. */
function connect(options: Options, env: Environment) {
  const addr = options.addr ?? "127.0.0.1:50051";
  const timeoutMs = Number(options["timeout-ms"] ?? "5000");
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError("--timeout-ms must be a positive whole number");
  const credentials = channelCredentials(options);
  refusePlaintextBeyondLoopback(addr, options["tls-ca"] !== undefined, options["insecure-plaintext"] === true);
  const apiKey = apiKeyFrom(options, env);
  const metadata = new grpc.Metadata();
  if (apiKey !== undefined) metadata.set(API_KEY_METADATA, apiKey);
  const client = new AdminServiceClient(addr, credentials, options["tls-name"] ? { "grpc.ssl_target_name_override": options["tls-name"] } : {});
  type Method = "suspend" | "resume" | "list";
  type Req<M extends Method> = Parameters<AdminServiceClient[M]>[0];
  type Res<M extends Method> = Parameters<Extract<Parameters<AdminServiceClient[M]>[3], (...args: never[]) => unknown>>[1] & object;
  return {
    call<M extends Method>(method: M, request: Req<M>): Promise<Res<M>> {
      return new Promise((resolve, reject) => {
        const done = (error: grpc.ServiceError | null, response: unknown) => {
          client.close();
          if (error) {
            const code = grpc.status[error.code] ?? String(error.code);
            reject(new CheckCallError(code, error.details, describeCallFailure(error.code, error.details, addr, timeoutMs, error.metadata)));
          } else resolve(response as Res<M>);
        };
        const invoke = client[method].bind(client) as (req: Req<M>, md: grpc.Metadata, opts: grpc.CallOptions, cb: typeof done) => unknown;
        invoke(request, metadata, { deadline: Date.now() + timeoutMs }, done);
      });
    },
  };
}
