import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { isJsonObject, type JsonObject } from "@verdict/sdk/wire";
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

/** The JSON in a file named by a flag ("-": standard input) and its text, or a UsageError saying why not. */
export function readJsonArgument(path: string, flag: string): { value: unknown; text: string } {
  let text: string;
  try {
    text = readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(error as Error).message}`);
  }
  return { value: parseJsonArgument(text, `${flag} ${path}`), text };
}

/** A flag's JSON object (e.g. --context '{"amount": 100}'), or a UsageError showing the example. */
export function jsonObjectArgument(text: string | undefined, flag: string, example: string): JsonObject {
  if (text === undefined) return {};
  const value = parseJsonArgument(text, flag);
  if (!isJsonObject(value)) throw new UsageError(`${flag} must be a JSON object, e.g. '${example}'`);
  return value;
}

function parseJsonArgument(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}
