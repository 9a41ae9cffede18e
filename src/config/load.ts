import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { VerdictError } from "../errors/index.js";
import type { Environment } from "./fields.js";
import { configSchema, type Config } from "./schema.js";

/** A configuration that cannot be used; the message says what to change. */
export class ConfigError extends VerdictError {
  constructor(message: string) {
    super("config_invalid", message);
  }
}

export interface BuildOptions {
  /** Relative paths in the configuration (jwks_file, bundle, ...) are resolved from here. */
  baseDir: string;
  env: Environment;
  profile?: Config["profile"];
  /** Keys given on the command line (verdict serve --listen); they replace the file's before anything is checked. */
  overrides?: Record<string, unknown>;
}

/** Reads a YAML or JSON configuration file and validates it, with `overrides` over the file's keys. */
export function loadConfigFile(path: string, env: Environment, overrides: Record<string, unknown> = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read configuration ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON
  } catch (error) {
    throw new ConfigError(`configuration ${path} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  return buildConfig(raw, { baseDir: dirname(resolve(path)), env, overrides });
}

/**
 * Validates a configuration object (a file's, or a profile's) into the Config:
 * every problem at once, whatever its source (a key given on the command line is
 * held to the same rules as the file's).
 */
export function buildConfig(raw: unknown, { baseDir, env, profile = "production", overrides = {} }: BuildOptions): Config {
  const merged = typeof raw === "object" && raw !== null && !Array.isArray(raw) ? { ...raw, ...overrides } : raw;
  const parsed = configSchema({ baseDir, env, profile }).safeParse(merged);
  if (!parsed.success) throw new ConfigError(`invalid configuration:\n${z.prettifyError(parsed.error)}`);
  return { ...parsed.data, profile };
}
