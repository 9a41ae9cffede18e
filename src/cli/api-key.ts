// The calling API's key for the commands that call a running Verdict (check,
// suspend/resume/suspensions, approvals): --api-key K, which `ps` and shell history
// show, or --api-key-file FILE and --api-key - (standard input), which they do not;
// else the development API's key in .verdict/.
import { readFileSync } from "node:fs";
import { stateDirFrom, type Environment } from "../config/index.js";
// Not on config's public surface (index.ts): the one rule for reading a secret file, which the CLI follows too.
import { readSecretFile } from "../config/fields.js";
import { devApiKeyPath } from "../dev/index.js";
import { UsageError } from "./args.js";

/** The options every such command takes for its key. */
export const apiKeyOptions = {
  "api-key": { type: "string" },
  "api-key-file": { type: "string" },
} as const;

/**
 * The usage lines of the key options, their descriptions from `column`; `grant`
 * names the grant (apis[].grants) the command's API needs, if one.
 */
export function apiKeyUsage(column: number, grant?: string): string {
  const flag = (name: string): string => {
    const text = `  ${name}`;
    return text.length < column ? text.padEnd(column) : `${text}\n${" ".repeat(column)}`;
  };
  const more = (line: string): string => `\n${" ".repeat(column)}${line}`;
  return [
    `${flag("--api-key-file FILE")}the calling API's key: the file's first line${more("(default: the dev API key in .verdict/)")}`,
    ...(grant === undefined ? [] : [more(`its API needs the ${grant} grant (apis[].grants)`).slice(1)]),
    `${flag("--api-key K")}the key itself ("-" reads it from standard input); a key${more("on the command line shows in ps and in shell history")}`,
  ].join("\n");
}

export interface ApiKeyFlags {
  "api-key"?: string | undefined;
  "api-key-file"?: string | undefined;
  /** With a client certificate the key is optional: mutual TLS identifies the caller. */
  "tls-cert"?: string | undefined;
}

/**
 * The key the flags give, read once. `stdinTakenBy` names the flag that already reads
 * standard input (`--token -`), if one does: the key cannot come from there too.
 */
export function apiKeyFrom(flags: ApiKeyFlags, env: Environment, stdinTakenBy?: string): string | undefined {
  const { "api-key": key, "api-key-file": file } = flags;
  if (key !== undefined && file !== undefined) throw new UsageError("give the API key one way: --api-key or --api-key-file, not both");
  if (key === "-") {
    if (stdinTakenBy !== undefined)
      throw new UsageError(`--api-key - and ${stdinTakenBy} cannot both read standard input: give the key with --api-key-file FILE`);
    return firstLine(readFileSync(0, "utf8"), "--api-key -: standard input is empty");
  }
  if (file !== undefined) {
    // As `verdict serve` reads a secret file (readSecretFile): trimmed, refused when empty.
    const secret = readSecretFile(file, (message) => {
      throw new UsageError(`--api-key-file: ${message}`);
    });
    return firstLine(secret, `--api-key-file: secret file ${file} is empty`);
  }
  if (key !== undefined) return key;
  return flags["tls-cert"] !== undefined ? undefined : readDevApiKey(env);
}

function firstLine(text: string, empty: string): string {
  const line = text.trim().split(/\r?\n/, 1)[0]?.trim() ?? "";
  if (line === "") throw new UsageError(empty);
  return line;
}

export function readDevApiKey(env: Environment): string {
  const path = devApiKeyPath(stateDirFrom(env));
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    throw new UsageError(`--api-key-file FILE (or --api-key) is required: no development key at ${path} (npm start creates one)`);
  }
}
