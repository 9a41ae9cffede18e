// `verdict config check FILE`: everything start would refuse, without starting
// anything: the schema and the rules across keys, ${NAME} references, and the files
// the configuration names (certificates, keys, JWKS files, bundles, directory
// files), every problem at once with where it is.
import { accessSync, constants, existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { buildConfig, ConfigError, describeProblems, readConfigFile, type Environment, type Problem } from "../config/index.js";
import { defaultBundlePath } from "../paths.js";
import { loadBundle } from "../policy/index.js";
import { readTlsFiles } from "../server/index.js";
import { fileKeySource } from "../token/index.js";
import { UsageError } from "./args.js";

export const usage = `verdict config check FILE

  Validates a configuration file without starting Verdict: its keys and values,
  the rules across them, \${NAME} references (expanded from the environment, as
  serve would), and the files it names (TLS certificates and keys, JWKS files,
  the policy bundles, AuthZEN directory files). Lists every problem with where it
  is; exits 0 when the file is valid, 1 when it is not.`;

export async function config(argv: string[], env: Environment): Promise<void> {
  const [sub, file, ...rest] = argv;
  if (sub !== "check") throw new UsageError(sub === undefined ? "give a subcommand: check FILE" : `unknown subcommand ${sub}; the only one is check`);
  if (file === undefined || file.startsWith("-")) throw new UsageError("give the configuration file: verdict config check FILE");
  if (rest.length > 0) throw new UsageError(`unexpected ${rest.join(" ")}`);

  const read = readConfigFile(file, env);
  const problems: Problem[] = [];
  let summary: string | undefined;
  try {
    const checked = buildConfig(read.raw, { baseDir: read.baseDir, env, problems: read.problems });
    summary = [
      `listen ${checked.listen.host}:${checked.listen.port} (${checked.tls ? "TLS" : "plaintext"})`,
      `admin ${checked.admin_listen.host}:${checked.admin_listen.port}`,
      `${checked.apis.length} API${checked.apis.length === 1 ? "" : "s"}`,
      `${checked.issuers.length} issuer${checked.issuers.length === 1 ? "" : "s"}`,
      `database ${checked.mongodb_database}${checked.mongodb_uri ? "" : " (no URI: MONGODB_URI at start, else a development local-mongo)"}`,
      ...(checked.tracing?.otlp_endpoint ? ["traces exported"] : []),
      ...(checked.authzen ? ["AuthZEN"] : []),
    ].join(", ");
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  problems.push(...(await fileProblems(read.raw, read.baseDir)));
  if (problems.length > 0) {
    throw new ConfigError(`${file}: ${problems.length} ${problems.length === 1 ? "problem" : "problems"}:\n${describeProblems(problems)}`, problems);
  }
  process.stdout.write(`${file}: valid\n  ${summary ?? ""}\n`);
}

/** The files a configuration names, each checked as start would use it. */
async function fileProblems(raw: unknown, baseDir: string): Promise<Problem[]> {
  const root = record(raw);
  if (!root) return [];
  const problems: Problem[] = [];
  const absolute = (path: string) => (isAbsolute(path) ? path : resolve(baseDir, path));
  const readable = (path: string, value: unknown) => {
    if (typeof value !== "string" || value === "") return; // the schema reports it
    try {
      accessSync(absolute(value), constants.R_OK);
    } catch (error) {
      problems.push({ path, message: `cannot read ${absolute(value)}: ${(error as NodeJS.ErrnoException).code ?? "error"}` });
    }
  };
  const tlsFiles = (prefix: string, tls: unknown) => {
    const section = record(tls);
    if (!section) return;
    const before = problems.length;
    for (const key of ["cert_file", "key_file", "client_ca_file"]) readable(`${prefix}.${key}`, section[key]);
    const { cert_file: cert, key_file: key, client_ca_file: ca } = section;
    if (problems.length > before || typeof cert !== "string" || typeof key !== "string") return;
    // As start reads them: certificate and key (PEM) that belong together, and the client CA.
    try {
      readTlsFiles({ cert_file: absolute(cert), key_file: absolute(key), ...(typeof ca === "string" ? { client_ca_file: absolute(ca) } : {}) }, prefix);
    } catch (error) {
      problems.push({ path: prefix, message: (error as Error).message.replace(`${prefix}: `, "") });
    }
  };
  tlsFiles("tls", root["tls"]);
  // As start reads one: JSON with a "keys" array of usable public keys.
  const jwksFile = (path: string, file: unknown) => {
    const before = problems.length;
    readable(path, file);
    if (problems.length > before || typeof file !== "string" || file === "") return;
    try {
      fileKeySource(absolute(file));
    } catch (error) {
      problems.push({ path, message: (error as Error).message });
    }
  };
  for (const [i, issuer] of list(root["issuers"]).entries()) jwksFile(`issuers[${i}].jwks_file`, record(issuer)?.["jwks_file"]);
  for (const [i, transmitter] of list(record(root["ssf"])?.["transmitters"]).entries())
    jwksFile(`ssf.transmitters[${i}].jwks_file`, record(transmitter)?.["jwks_file"]);
  const authzen = record(root["authzen"]);
  if (authzen) {
    tlsFiles("authzen.tls", authzen["tls"]);
    for (const [i, path] of list(authzen["directory"]).entries()) readable(`authzen.directory[${i}]`, path);
  }
  // Bundles: readable, and a bundle (its files, data and manifest), as start loads it.
  const bundles: [string, unknown][] = [["bundle", root["bundle"] ?? defaultBundlePath]];
  if (root["shadow_bundle"] !== undefined) bundles.push(["shadow_bundle", root["shadow_bundle"]]);
  for (const [key, value] of bundles) {
    if (typeof value !== "string" || value === "") continue;
    const path = absolute(value);
    if (!existsSync(path)) {
      problems.push({
        path: key,
        message: `no bundle at ${path}${key === "bundle" && root["bundle"] === undefined ? " (the default: npm run policy:build makes it)" : ""}`,
      });
      continue;
    }
    try {
      await loadBundle(path);
    } catch (error) {
      problems.push({ path: key, message: (error as Error).message });
    }
  }
  return problems;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
