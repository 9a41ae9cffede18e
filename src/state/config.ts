// The state section of the configuration: the database, the deadline of state
// calls, and how many decisions may use the database at once.
import { z } from "zod";
import type { ConfigContext } from "../config/fields.js";

export const stateSettings = ({ env }: ConfigContext) => ({
  /** When omitted: MONGODB_URI, else (the CLI) a local-mongo for development. */
  mongodb_uri: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, "must be a mongodb:// or mongodb+srv:// URI")
    .optional()
    .transform((uri) => uri ?? (env.MONGODB_URI || undefined)),
  mongodb_database: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/)
    .default("verdict"),
  /** How long the database may stay silent while a state call waits for it; a call waits at most 4 times this in all (docs/state.md). */
  state_timeout_ms: z.number().int().min(1).max(60_000).default(500),
  /** Decisions of one process doing state work at once; the others wait their turn (docs/state.md). */
  state_concurrency: z.number().int().min(1).max(256).default(8),
  /** How long a decision may wait for its turn, from its arrival; then it is refused (gRPC RESOURCE_EXHAUSTED, nothing applied). */
  state_queue_timeout_ms: z.number().int().min(1).max(60_000).default(5_000),
});

/** Connections each process keeps open: two calls in flight per admitted decision (its obligations go together), and room for the audit trail and housekeeping. */
export function poolSizeFor(concurrency: number): number {
  return 2 * concurrency + 8;
}
