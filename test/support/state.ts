// The state stores over a real database for integration tests, opened the way the
// server opens them with its default configuration (one Database with the pool the
// default state_concurrency gets, its indexes created, the default state_timeout_ms).
import { Database } from "../../src/database/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { DEFAULT_STATE_CONCURRENCY, DEFAULT_STATE_TIMEOUT_MS, openState, poolSizeFor, type State } from "../../src/state/index.js";
import { mongoUri, uniqueDatabaseName } from "./mongo.js";

export interface TestState extends State {
  database: Database;
  close(): Promise<void>;
}

export async function openTestState(
  options: { name?: string; database?: string; uri?: string; timeoutMs?: number; onCommand?: (name: string) => void; indexes?: boolean } = {},
): Promise<TestState> {
  const log = silentLogger();
  const database = Database.open({
    uri: options.uri ?? mongoUri(),
    database: options.database ?? uniqueDatabaseName(options.name ?? "state"),
    log,
    poolSize: poolSizeFor(DEFAULT_STATE_CONCURRENCY),
    ...(options.onCommand ? { onCommand: options.onCommand } : {}),
  });
  const state = openState(database, { timeoutMs: options.timeoutMs ?? DEFAULT_STATE_TIMEOUT_MS, log });
  if (options.indexes !== false) await database.ensureIndexes();
  // As a serving process does when it connects: windowed counters refuse until the database's clock is measured.
  if (options.uri === undefined) await database.clock.measure();
  return { ...state, database, close: () => database.close() };
}
