// Where the development authorization server listens, and how other local programs
// (the MCP example) find its issuer: <stateDir>/dev-authorization-server.json, written
// while `verdict serve --profile dev` runs.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const fileOf = (stateDir: string) => join(stateDir, "dev-authorization-server.json");

/**
 * The authorization server's address: the given one, else gRPC's host and port + 1
 * (127.0.0.1:50052 beside the default 50051); a gRPC port of 0 (tests) picks a free one.
 */
export function devAuthorizationListen(grpcListen: string, explicit?: string): { host: string; port: number } {
  const split = (value: string) => {
    const at = value.lastIndexOf(":");
    return { host: value.slice(0, at).replace(/^\[(.*)\]$/, "$1"), port: Number(value.slice(at + 1)) };
  };
  if (explicit !== undefined) {
    const { host, port } = split(explicit);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--auth-listen must be host:port, not ${explicit}`);
    return { host, port };
  }
  const grpc = split(grpcListen);
  return { host: grpc.host, port: grpc.port === 0 ? 0 : grpc.port + 1 };
}

export function writeDevAuthorizationFile(stateDir: string, issuer: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const temp = `${fileOf(stateDir)}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temp, JSON.stringify({ issuer, pid: process.pid }) + "\n", { mode: 0o600 });
  renameSync(temp, fileOf(stateDir));
}

function readDevAuthorizationFile(stateDir: string): { issuer: string; pid: number } | undefined {
  try {
    const entry = JSON.parse(readFileSync(fileOf(stateDir), "utf8")) as { issuer?: unknown; pid?: unknown };
    return typeof entry.issuer === "string" && typeof entry.pid === "number" ? { issuer: entry.issuer, pid: entry.pid } : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the file if this process wrote it. */
export function removeDevAuthorizationFile(stateDir: string): void {
  if (readDevAuthorizationFile(stateDir)?.pid === process.pid) rmSync(fileOf(stateDir), { force: true });
}
