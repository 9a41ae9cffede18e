// The state section of the configuration: the database, the deadline of state
// calls, and how many decisions may use the database at once.
import { z } from "zod";
import { filePath, readSecretFile, type ConfigContext } from "../config/fields.js";

const MONGODB_URI = /^mongodb(\+srv)?:\/\//;
const URI_MESSAGE = "must be a mongodb:// or mongodb+srv:// URI";

/**
 * Default of state_concurrency. At 8, a process with 32 calls in flight (the bench's
 * c64 over two processes) let a quarter of them do state work: reads went nearly one
 * per decision and each policy hand-off carried few evaluations; at 32 the stateful
 * transfer (c) decided about half as many again a second, on less CPU each
 * (docs/performance.md, "Admission's size").
 */
export const DEFAULT_STATE_CONCURRENCY = 32;
/** Default of state_timeout_ms: how long the database may stay silent while a state call waits. */
export const DEFAULT_STATE_TIMEOUT_MS = 500;
/** Default of state_queue_timeout_ms: how long a decision may wait for its turn. */
export const DEFAULT_STATE_QUEUE_TIMEOUT_MS = 5_000;

export const stateSettings = (ctx: ConfigContext) => ({
  /** When omitted: mongodb_uri_file, else MONGODB_URI, else (the CLI) a local-mongo for development. */
  mongodb_uri: z.string().regex(MONGODB_URI, URI_MESSAGE).optional(),
  /** A file holding the URI (a mounted Secret: the URI carries the database password), read at start. */
  mongodb_uri_file: filePath(ctx)
    .transform((path, check) => {
      const uri = readSecretFile(path, (message) => check.addIssue({ code: "custom", message }));
      if (uri !== "" && !MONGODB_URI.test(uri)) check.addIssue({ code: "custom", message: `the URI in ${path} ${URI_MESSAGE}` });
      return uri;
    })
    .optional(),
  mongodb_database: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/)
    .default("verdict"),
  /** How long the database may stay silent while a state call waits for it; a call waits at most 4 times this in all (docs/state.md). */
  state_timeout_ms: z.number().int().min(1).max(60_000).default(DEFAULT_STATE_TIMEOUT_MS),
  /** Decisions of one process doing state work at once; the others wait their turn (docs/state.md). */
  state_concurrency: z.number().int().min(1).max(256).default(DEFAULT_STATE_CONCURRENCY),
  /** How long a decision may wait for its turn, from its arrival; then it is refused (gRPC RESOURCE_EXHAUSTED, nothing applied). */
  state_queue_timeout_ms: z.number().int().min(1).max(60_000).default(DEFAULT_STATE_QUEUE_TIMEOUT_MS),
});

/**
 * Connections each process keeps open: one call in flight per admitted decision (its
 * obligations go one after another; the reads of many decisions go together, two at a
 * time per store), and room for those reads, the audit trail, give-backs and housekeeping.
 */
export function poolSizeFor(concurrency: number): number {
  return concurrency + 16;
}

/** mongodb_uri and mongodb_uri_file say the same thing: one at most. */
export function checkMongoUri(value: Record<string, unknown>, check: z.RefinementCtx): void {
  if (value["mongodb_uri"] !== undefined && value["mongodb_uri_file"] !== undefined) {
    check.addIssue({ code: "custom", path: ["mongodb_uri_file"], message: "give mongodb_uri or mongodb_uri_file, not both" });
  }
}

/** The database the configuration names: mongodb_uri, else mongodb_uri_file's contents, else MONGODB_URI. */
export function resolveMongoUri<T extends { mongodb_uri?: string | undefined; mongodb_uri_file?: string | undefined }>(
  { mongodb_uri_file, ...rest }: T,
  { env }: ConfigContext,
): Omit<T, "mongodb_uri_file"> & { mongodb_uri: string | undefined } {
  return { ...rest, mongodb_uri: rest.mongodb_uri ?? mongodb_uri_file ?? (env.MONGODB_URI || undefined) };
}
