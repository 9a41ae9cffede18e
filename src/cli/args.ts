import { parseArgs } from "node:util";
import { VerdictError } from "../errors/index.js";

/** A mistake in how a command was called: printed with the command's usage, exit 2. */
export class UsageError extends VerdictError {
  constructor(message: string) {
    super("usage_invalid", message);
  }
}

type OptionSpecs = Record<string, { type: "string" | "boolean"; default?: string | boolean }>;
export type ParsedOptions<T extends OptionSpecs> = { [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : string };

export function parseOptions<T extends OptionSpecs>(argv: string[], options: T): ParsedOptions<T> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`${flag} is required`);
  return value;
}
