// Commands' JSON arguments: a file's JSON (or standard input's), a flag's JSON object.
// Apart from args.ts (options) so that `verdict serve`, which takes none, does not
// load @verdict/sdk/wire (its gRPC service definitions load @grpc/grpc-js, which the
// primary of several processes never needs, least of all before it starts them).
import { readFileSync } from "node:fs";
import { isJsonObject, jsonObject, type JsonObject } from "@verdict/sdk/wire";
import { UsageError } from "./args.js";

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
  // Only what a Struct can carry (the SDK's rules: finite numbers, nested at most
  // MAX_STRUCT_DEPTH levels), refused here, naming where, before the call: the gRPC
  // client would fail to encode it and say only INTERNAL.
  try {
    return jsonObject(value, flag);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function parseJsonArgument(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}
