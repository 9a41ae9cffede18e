// Finding "the same database as npm start". `verdict serve` without a database URI
// starts local-mongo on <stateDir>/mongo, which locks its data file, so other
// commands cannot open it themselves while it runs: serve writes the server's URI
// to <stateDir>/local-mongo.json for as long as it runs, and commands read it.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfigFile, stateDirFrom, type Environment } from "../config/index.js";
import { Database } from "../database/index.js";
import { startLocalMongo } from "../dev/index.js";
import { silentLogger } from "../observability/index.js";

export function localDatabaseFile(stateDir: string): string {
  return join(stateDir, "local-mongo.json");
}

export function localDatabasePath(stateDir: string): string {
  return join(stateDir, "mongo");
}

export function writeLocalDatabaseFile(stateDir: string, uri: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = localDatabaseFile(stateDir);
  const temp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temp, JSON.stringify({ uri, pid: process.pid }) + "\n", { mode: 0o600 });
  renameSync(temp, path);
}

/** Removes the file if this process wrote it. */
export function removeLocalDatabaseFile(stateDir: string): void {
  const entry = readEntry(stateDir);
  if (entry?.pid === process.pid) rmSync(localDatabaseFile(stateDir), { force: true });
}

/** The URI of the local database a running `verdict serve` started, if one is running. */
export function runningLocalDatabase(stateDir: string): string | undefined {
  const entry = readEntry(stateDir);
  if (!entry) return undefined;
  try {
    process.kill(entry.pid, 0); // a file left by a process that was killed names a server that is gone
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return undefined;
  }
  return entry.uri;
}

function readEntry(stateDir: string): { uri: string; pid: number } | undefined {
  try {
    const value = JSON.parse(readFileSync(localDatabaseFile(stateDir), "utf8")) as { uri?: unknown; pid?: unknown };
    if (typeof value.uri === "string" && typeof value.pid === "number") return { uri: value.uri, pid: value.pid };
  } catch {
    // absent or unreadable: no running server
  }
  return undefined;
}

export interface ResolvedDatabase {
  uri: string;
  /** Where the URI came from, for messages. */
  source: "config" | "MONGODB_URI" | "running verdict serve" | "local-mongo";
  /** Stops a server this command started itself. */
  release(): Promise<void>;
}

/**
 * The database, in this order: the configuration's (file, or MONGODB_URI when the
 * file has none), MONGODB_URI, the local database a running `verdict serve`
 * started, else local-mongo started here on the same data directory.
 */
export async function resolveDatabase(configUri: string | undefined, envUri: string | undefined, stateDir: string): Promise<ResolvedDatabase> {
  const none = async () => {};
  if (configUri) return { uri: configUri, source: "config", release: none };
  if (envUri) return { uri: envUri, source: "MONGODB_URI", release: none };
  const running = runningLocalDatabase(stateDir);
  if (running) return { uri: running, source: "running verdict serve", release: none };
  const server = await startLocalMongo({ dbpath: localDatabasePath(stateDir) });
  return { uri: server.uri, source: "local-mongo", release: () => server.stop() };
}

/**
 * A command's pool: its calls go one after another (a query's pages, a load's bulk
 * write), and the pool keeps every connection it may open, so a command run from a
 * script against a shared database opens two, not the server's pool.
 */
export const COMMAND_POOL_SIZE = 2;

/** A command's database: open (lazily connected), where it came from, and how to let it go. */
export interface CommandDatabase {
  db: Database;
  source: ResolvedDatabase["source"];
  close(): Promise<void>;
}

/**
 * The database a command (`verdict audit query`, `verdict directory load`) works on:
 * the configuration's (`--config FILE`), else what resolveDatabase finds, with its
 * `mongodb_database` (default "verdict"). A command, not a request path: a patient
 * server selection.
 */
export async function openCommandDatabase(configPath: string | undefined, env: Environment, databaseName?: string): Promise<CommandDatabase> {
  const config = configPath !== undefined ? loadConfigFile(configPath, env) : undefined;
  const database = await resolveDatabase(config?.mongodb_uri, env.MONGODB_URI, stateDirFrom(env));
  const db = Database.open({
    uri: database.uri,
    database: databaseName ?? config?.mongodb_database ?? "verdict",
    log: silentLogger(),
    serverSelectionTimeoutMs: 10_000,
    poolSize: COMMAND_POOL_SIZE,
  });
  return {
    db,
    source: database.source,
    async close() {
      await db.close();
      await database.release();
    },
  };
}
