import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { VerdictError } from "../errors/index.js";
import type { Environment } from "./fields.js";
import { expandReferences, pathOf, type Problem } from "./references.js";
import { configSchema, type Config } from "./schema.js";

/** A configuration that cannot be used; the message says what to change, `problems` each problem with its path. */
export class ConfigError extends VerdictError {
  constructor(
    message: string,
    readonly problems: readonly Problem[] = [],
  ) {
    super("config_invalid", message);
  }
}

/** Every problem, one a line, each with where it is. */
export function describeProblems(problems: readonly Problem[]): string {
  return problems.map(({ path, message }) => `  ✖ ${path === "" ? "" : `${path}: `}${message}`).join("\n");
}

export interface BuildOptions {
  /** Relative paths in the configuration (jwks_file, bundle, ...) are resolved from here. */
  baseDir: string;
  env: Environment;
  profile?: Config["profile"];
  /** Keys given on the command line (verdict serve --listen); they replace the file's before anything is checked. */
  overrides?: Record<string, unknown>;
  /** Problems found before validation (${NAME} references that could not be expanded), reported with the others. */
  problems?: readonly Problem[];
}

/** A configuration file as read: its value with ${NAME} references expanded, the problems found so far, and its directory. */
export interface ReadConfigFile {
  raw: unknown;
  problems: Problem[];
  /** Relative paths in the file are resolved from here. */
  baseDir: string;
}

/** Reads a YAML or JSON configuration file and expands its ${NAME} references from the environment. */
export function readConfigFile(path: string, env: Environment): ReadConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const message = `cannot read configuration ${path}: ${(error as Error).message}`;
    throw new ConfigError(message, [{ path: "", message }]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON
  } catch (error) {
    const message = `configuration ${path} is not valid YAML or JSON: ${(error as Error).message}`;
    throw new ConfigError(message, [{ path: "", message }]);
  }
  const expanded = expandReferences(raw, env.variables ?? {});
  return { raw: expanded.value, problems: expanded.problems, baseDir: dirname(resolve(path)) };
}

/** Reads, expands and validates a configuration file, with `overrides` over the file's keys. */
export function loadConfigFile(path: string, env: Environment, overrides: Record<string, unknown> = {}): Config {
  const { raw, problems, baseDir } = readConfigFile(path, env);
  return buildConfig(raw, { baseDir, env, overrides, problems });
}

/**
 * Validates a configuration object (a file's, or a profile's) into the Config:
 * every problem at once, whatever its source (a key given on the command line is
 * held to the same rules as the file's).
 */
export function buildConfig(raw: unknown, { baseDir, env, profile = "production", overrides = {}, problems: before = [] }: BuildOptions): Config {
  const merged = typeof raw === "object" && raw !== null && !Array.isArray(raw) ? { ...raw, ...overrides } : raw;
  const parsed = configSchema({ baseDir, env, profile }).safeParse(merged);
  const problems = [...before, ...(parsed.success ? [] : parsed.error.issues.map((issue) => ({ path: pathOf(issue.path), message: issue.message })))];
  if (!parsed.success || problems.length > 0) {
    throw new ConfigError(
      `invalid configuration (${problems.length} ${problems.length === 1 ? "problem" : "problems"}):\n${describeProblems(problems)}`,
      problems,
    );
  }
  return { ...parsed.data, profile };
}
