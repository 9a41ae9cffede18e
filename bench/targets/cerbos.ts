// The peer: Cerbos (the PDP a team would otherwise pick), from the pinned npm package
// @cerbos/cerbos-linux-x64, as a real separate process with its default
// configuration except the listen addresses, the policy directory and one JWKS
// keyset (auxData.jwt). Its policies do the checks Verdict's token verification and
// demo policy do for the same requests: signature and expiry (Cerbos's JWT
// verification), issuer, audience and scope (conditions on request.auxData.jwt),
// and for transfers the per-transaction amount.
// Requests: cerbos.svc.v1.CerbosService/CheckResources over gRPC (ghz finds the
// method by server reflection); the probe uses the same request on its HTTP API.
import { createRequire } from "node:module";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { defaultPolicyDir } from "../../src/paths.js";
import { TEST_AUDIENCE, type TestIssuer } from "../../test/support/issuer.js";
import { freePort } from "../../test/support/mongo-servers.js";
import type { GhzCall } from "../ghz.js";
import { startProcess, type ServerProcess } from "../process.js";

const require = createRequire(import.meta.url);
export const CERBOS_PACKAGE = "@cerbos/cerbos-linux-x64";

export function cerbosBinary(): string {
  if (process.platform !== "linux" || process.arch !== "x64")
    throw new Error(`the Cerbos peer is ${CERBOS_PACKAGE}: linux-x64 only (run with --no-peer elsewhere)`);
  return require.resolve(`${CERBOS_PACKAGE}/cerbos-linux-x64`);
}

export function cerbosVersion(): string {
  return (JSON.parse(readFileSync(require.resolve(`${CERBOS_PACKAGE}/package.json`), "utf8")) as { version: string }).version;
}

/** The demo policy's per-transaction ceiling for people (policies/data.json), so both PDPs refuse the same amounts. */
function perTransactionLimit(): number {
  const data = JSON.parse(readFileSync(join(defaultPolicyDir, "data.json"), "utf8")) as {
    settings: { limits: Record<string, { per_transaction: number }> };
  };
  const limit = data.settings.limits["payments:transfer"]?.per_transaction;
  if (typeof limit !== "number") throw new Error("policies/data.json has no payments:transfer per_transaction limit");
  return limit;
}

function tokenChecks(issuer: string, scope: string): { expr: string }[] {
  return [
    { expr: `request.auxData.jwt.iss == ${JSON.stringify(issuer)}` },
    { expr: `${JSON.stringify(TEST_AUDIENCE)} in request.auxData.jwt.aud` },
    { expr: `${JSON.stringify(scope)} in request.auxData.jwt.scope.split(" ")` },
  ];
}

function resourcePolicy(resource: string, action: string, checks: { expr: string }[]): string {
  return stringify({
    apiVersion: "api.cerbos.dev/v1",
    resourcePolicy: {
      version: "default",
      resource,
      rules: [{ actions: [action], effect: "EFFECT_ALLOW", roles: ["*"], condition: { match: { all: { of: checks } } } }],
    },
  });
}

/** Writes the policies and the configuration; returns the configuration's path. */
export function writeCerbosFiles(dir: string, issuer: TestIssuer, ports: { grpc: number; http: number }): string {
  const policies = join(dir, "policies");
  mkdirSync(policies, { recursive: true });
  writeFileSync(join(policies, "invoice.yaml"), resourcePolicy("invoice", "invoices:read", tokenChecks(issuer.issuer, "invoices:read")));
  const limit = perTransactionLimit();
  writeFileSync(
    join(policies, "account.yaml"),
    resourcePolicy("account", "payments:transfer", [
      ...tokenChecks(issuer.issuer, "payments:write"),
      { expr: `request.resource.attr.amount > 0.0 && request.resource.attr.amount <= ${limit.toFixed(1)}` },
    ]),
  );
  const config = join(dir, "cerbos.yaml");
  writeFileSync(
    config,
    stringify({
      server: { grpcListenAddr: `127.0.0.1:${ports.grpc}`, httpListenAddr: `127.0.0.1:${ports.http}` },
      storage: { driver: "disk", disk: { directory: policies } },
      auxData: { jwt: { keySets: [{ id: "bench", local: { file: issuer.jwksPath } }] } },
    }),
  );
  return config;
}

export interface RunningCerbos {
  process: ServerProcess;
  address: string;
  httpUrl: string;
  call: GhzCall;
  stop(): Promise<void>;
}

/** Attempts at a start whose free ports another process took first (the pick and Cerbos's bind are apart). */
const START_ATTEMPTS = 3;

export async function startCerbos(dir: string, issuer: TestIssuer, name: string, pickPort = freePort): Promise<RunningCerbos> {
  const home = join(dir, `cerbos-${name}`);
  mkdirSync(home, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const ports = { grpc: await pickPort(), http: await pickPort() };
    try {
      return await startCerbosOn(home, issuer, ports, attempt);
    } catch (error) {
      if (attempt >= START_ATTEMPTS || !/address already in use/.test(String(error))) throw error;
    }
  }
}

async function startCerbosOn(home: string, issuer: TestIssuer, ports: { grpc: number; http: number }, attempt: number): Promise<RunningCerbos> {
  const config = writeCerbosFiles(home, issuer, ports);
  const httpUrl = `http://127.0.0.1:${ports.http}`;
  const server = await startProcess({
    command: cerbosBinary(),
    args: ["server", `--config=${config}`],
    cwd: home,
    logFile: join(home, attempt === 1 ? "cerbos.log" : `cerbos-${attempt}.log`),
    readyLine: /Starting gRPC server/,
    readyProbe: async () => {
      try {
        return (await fetch(`${httpUrl}/_cerbos/health`)).ok;
      } catch {
        return false;
      }
    },
  });
  return {
    process: server,
    address: `127.0.0.1:${ports.grpc}`,
    httpUrl,
    call: { method: "cerbos.svc.v1.CerbosService.CheckResources" },
    stop: () => server.stop(),
  };
}

export interface CerbosRequest {
  requestId: string;
  principal: { id: string; roles: string[] };
  resources: { actions: string[]; resource: { kind: string; id: string; attr: Record<string, unknown> } }[];
  auxData: { jwt: { token: string } };
}

export type CerbosAnswer = { ok: true; effect: string } | { ok: false; status: number; message: string };

/** One CheckResources over HTTP: the effect of its one action, or the error Cerbos gave. */
export async function cerbosCheck(httpUrl: string, request: CerbosRequest): Promise<CerbosAnswer> {
  const response = await fetch(`${httpUrl}/api/check/resources`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  const body = (await response.json()) as { results?: { actions: Record<string, string> }[]; message?: string };
  if (!response.ok) return { ok: false, status: response.status, message: body.message ?? "" };
  const action = request.resources[0]?.actions[0] ?? "";
  return { ok: true, effect: body.results?.[0]?.actions[action] ?? "none" };
}
