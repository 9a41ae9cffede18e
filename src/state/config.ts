// The state section of the configuration: the database and the deadline of state calls.
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
  /** Deadline of every state call, end to end. */
  state_timeout_ms: z.number().int().min(1).max(60_000).default(50),
});
