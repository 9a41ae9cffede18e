// The one MongoDB connection of a Verdict process, and the deadline every call has.
import { MongoClient, type Collection, type Db, type Document } from "mongodb";
import type { Logger } from "../observability/index.js";
import { StateUnavailableError } from "./errors.js";
import { ensureIndexes } from "./indexes.js";

export interface StateStoreOptions {
  uri: string;
  database: string;
  /** Deadline of each database call, end to end (server selection, checkout, I/O). */
  timeoutMs: number;
  log: Logger;
}

export const COLLECTIONS = { counters: "counters", once: "once_keys" } as const;

export class StateStore {
  private indexesReady: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly client: MongoClient,
    readonly db: Db,
    readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  /**
   * Opens the connection lazily: Verdict starts (and decisions that need no state
   * are made) even while the database is down; the driver reconnects by itself.
   */
  static open({ uri, database, timeoutMs, log }: StateStoreOptions): StateStore {
    const client = new MongoClient(uri, {
      appName: "verdict",
      maxPoolSize: 100,
      serverSelectionTimeoutMS: Math.max(timeoutMs, 5_000),
      connectTimeoutMS: 5_000,
    });
    return new StateStore(client, client.db(database), timeoutMs, log);
  }

  collection<T extends Document>(name: string): Collection<T> {
    return this.db.collection<T>(name);
  }

  /** Options that bound one call: an abort signal for the client side, maxTimeMS for the server. */
  deadline(): { signal: AbortSignal; maxTimeMS: number } {
    return { signal: AbortSignal.timeout(this.timeoutMs), maxTimeMS: this.timeoutMs };
  }

  /** Runs one database call under the deadline; any failure becomes StateUnavailableError. */
  async call<T>(what: string, operation: (deadline: { signal: AbortSignal; maxTimeMS: number }) => Promise<T>): Promise<T> {
    try {
      return await operation(this.deadline());
    } catch (error) {
      if (error instanceof StateUnavailableError) throw error;
      throw new StateUnavailableError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Creates indexes once; retried on the next call if the database was down. */
  ensureIndexes(): Promise<void> {
    this.indexesReady ??= ensureIndexes(this.db).catch((error: unknown) => {
      this.indexesReady = undefined;
      throw error;
    });
    return this.indexesReady;
  }

  /** Creates indexes in the background, retrying until the database answers. */
  prepareInBackground(retryMs = 2_000): void {
    const attempt = () => {
      if (this.closed) return;
      this.ensureIndexes().then(
        () => this.log.info({ database: this.db.databaseName }, "state indexes ready"),
        (error: unknown) => {
          if (this.closed) return;
          this.log.warn({ err: (error as Error).message }, "state indexes not created yet; the database is unavailable, retrying");
          setTimeout(attempt, retryMs).unref();
        },
      );
    };
    attempt();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client.close();
  }
}
