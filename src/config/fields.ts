// What every module's configuration section is built with: the context a file is
// read in (its directory, the environment) and the field kinds they share. A leaf
// beside the sections (token/config.ts, state/config.ts, ...), which config/
// composes into the one schema.
import { readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { packageRoot } from "../paths.js";

/** The environment variables Verdict reads, all of them, here and nowhere else. */
export interface Environment {
  MONGODB_URI?: string;
  VERDICT_HOME?: string;
  VERDICT_LOG_LEVEL?: string;
  /** Set by `verdict serve`'s primary for the process it starts to serve the console only (src/cluster); never by people. */
  VERDICT_PROCESS_ROLE?: string;
  /** What a configuration file's ${NAME} references are expanded from (the process environment). */
  variables?: Readonly<Record<string, string | undefined>>;
}

/** What a configuration is read against. */
export interface ConfigContext {
  /** Relative paths in the file are resolved from here (the file's directory). */
  baseDir: string;
  env: Environment;
  /** "dev" only through `--profile dev` (the AuthZEN listener may then serve plain HTTP on loopback). */
  profile?: "production" | "dev";
}

/** Where development files live: VERDICT_HOME, else .verdict/ in the package. */
export function stateDirFrom(env: Environment): string {
  return env.VERDICT_HOME ? resolve(env.VERDICT_HOME) : join(packageRoot, ".verdict");
}

/** A path, absolute once read: a relative one is taken from the file's directory. */
export const filePath = ({ baseDir }: ConfigContext) =>
  z
    .string()
    .min(1)
    .transform((path) => (isAbsolute(path) ? path : resolve(baseDir, path)));

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** "host:port" (an IPv6 host in brackets) as {host, port}; the host without brackets. */
export const hostPort = z
  .string()
  .regex(HOST_PORT, "must be host:port, e.g. 127.0.0.1:50051")
  .transform((value, ctx) => {
    const separator = value.lastIndexOf(":");
    const port = Number(value.slice(separator + 1));
    if (port > 65_535) ctx.addIssue({ code: "custom", message: `port ${port} is out of range` });
    return { host: value.slice(0, separator).replace(/^\[|\]$/g, ""), port };
  });

/** A listener's TLS: certificate and key, and with a client CA, mutual TLS (gRPC's and the AuthZEN listener's). */
export const tlsSchema = (ctx: ConfigContext) =>
  z
    .object({
      cert_file: filePath(ctx),
      key_file: filePath(ctx),
      /** Turns on mutual TLS: every caller presents a certificate issued by this CA. */
      client_ca_file: filePath(ctx).optional(),
    })
    .strict();

/** The name of a calling API, as configured and as audit grants name it. */
export const apiName = (message: string) => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, message);

export const seconds = (fallback: number, max: number) => z.number().int().min(0).max(max).default(fallback);

/**
 * Cross-field rules run even when some field has a problem of its own, so that a
 * file's problems are all reported at once; they must therefore read the value
 * defensively (any field may be missing or of the wrong type).
 */
export const ALWAYS = { when: () => true } as const;

/** The entries of a list the value may or may not hold. */
export function entries(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter((item): item is Record<string, unknown> => typeof item === "object" && item !== null) : [];
}

/** A secret kept in a file (a mounted Secret), read at start and trimmed; `problem` is told why it cannot be used. */
export function readSecretFile(path: string, problem: (message: string) => void): string {
  let secret: string;
  try {
    secret = readFileSync(path, "utf8").trim();
  } catch (error) {
    problem(`cannot read secret file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
    return "";
  }
  if (secret === "") problem(`secret file ${path} is empty`);
  return secret;
}
