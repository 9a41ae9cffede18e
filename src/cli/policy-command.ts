// What the `verdict policy` subcommands share: their failure, and how they read numbers.
import { VerdictError } from "../errors/index.js";
import { UsageError } from "./args.js";

/** A policy command that ran and failed (a failing test, a policy error): exit 1. */
export class PolicyCommandError extends VerdictError {
  constructor(message: string) {
    super("policy_command_failed", message);
  }
}

export function positiveInteger(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number`);
  return n;
}
