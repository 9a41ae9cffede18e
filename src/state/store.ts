// The one MongoDB connection of a Verdict process, and the deadline every call has.
import { MongoClient, type Collection, type Db, type Document } from "mongodb";
import type { Logger } from "../observability/index.js";
import { withDeadline } from "../deadline.js";
import { StateUnavailableError } from "./errors.js";
import { ensureIndexes } from "./indexes.js";

export interface StateStoreOptions {
  uri: string;
  database: string;
  /** Deadline of each database call, end to end (server selection, checkout, I/O). */
  timeoutMs: number;
  log: Logger;
  /** Called with each command the driver starts (tests count round trips; metrics). */
  onCommand?: (commandName: string) => void;
}

export const COLLECTIONS = { counters: "counters", once: "once_keys", ledger: "obligation_ledger" } as const;

export class StateStore {
  private indexesReady: Promise<void> | undefined;
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;

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
  static open({ uri, database, timeoutMs, log, onCommand }: StateStoreOptions): StateStore {
    const client = new MongoClient(uri, {
      appName: "verdict",
      maxPoolSize: 100,
      // Keep connections open: with a 50 ms deadline there is no time to open one.
      minPoolSize: 4,
      serverSelectionTimeoutMS: Math.max(timeoutMs, 5_000),
      connectTimeoutMS: 5_000,
      ...(onCommand ? { monitorCommands: true } : {}),
    });
    if (onCommand) client.on("commandStarted", (event) => onCommand(event.commandName));
    return new StateStore(client, client.db(database), timeoutMs, log);
  }

  collection<T extends Document>(name: string): Collection<T> {
    return this.db.collection<T>(name);
  }

  /**
   * Runs one database call under the deadline; any failure becomes
   * StateUnavailableError. The deadline is ours (a timer), not the driver's abort:
   * the driver closes a connection it is establishing when its call is aborted, so
   * against a cold or restarting server a 50 ms abort would keep the pool from ever
   * warming up. The driver's own call is abandoned much later (abandonMs), and a
   * write that lands after its deadline can only have held budget, never granted it.
   */
  async call<T>(
    what: string,
    operation: (options: { signal: AbortSignal; maxTimeMS: number }) => Promise<T>,
    /** Undoes a write whose success arrived after its deadline (the decision already failed closed). */
    onLate?: (result: T) => Promise<unknown>,
  ): Promise<T> {
    const running = operation({ signal: AbortSignal.timeout(this.abandonMs), maxTimeMS: this.timeoutMs });
    const undoLate = onLate
      ? (result: T) =>
          void onLate(result).catch((error: unknown) =>
            this.log.warn({ what, err: (error as Error).message }, "could not undo a write that landed after its deadline; it stays held until it expires"),
          )
      : undefined;
    try {
      return await withDeadline(running, this.timeoutMs, () => new StateUnavailableError(`${what}: no answer within ${this.timeoutMs} ms`), undoLate);
    } catch (error) {
      if (error instanceof StateUnavailableError) throw error;
      throw new StateUnavailableError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** When the driver gives up on a call whose answer came too late to be used. */
  private get abandonMs(): number {
    return Math.max(2_000, this.timeoutMs * 20);
  }

  /** Creates indexes once; retried on the next call if the database was down. */
  ensureIndexes(): Promise<void> {
    this.indexesReady ??= ensureIndexes(this.db).catch((error: unknown) => {
      this.indexesReady = undefined;
      throw error;
    });
    return this.indexesReady;
  }

  /**
   * Connects and creates the indexes, waiting at most `waitMs`: a Verdict that starts
   * while the database is down still starts (and keeps trying in the background).
   */
  async prepare(waitMs: number): Promise<boolean> {
    const ready = this.ensureIndexes().then(
      () => true,
      () => false,
    );
    const timedOut = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), waitMs).unref());
    const ok = await Promise.race([ready, timedOut]);
    if (!ok) this.prepareInBackground();
    else this.log.info({ database: this.db.databaseName }, "state indexes ready");
    return ok;
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

  /** Deletes expired documents every `intervalMs` (see housekeeping.ts); errors are logged, never fatal. */
  startSweeping(intervalMs: number, sweep: (store: StateStore, now: Date) => Promise<number>): void {
    this.sweeper = setInterval(() => {
      sweep(this, new Date()).then(
        (removed) => removed > 0 && this.log.debug({ removed }, "expired state removed"),
        (error: unknown) => this.log.warn({ err: (error as Error).message }, "could not remove expired state; will retry"),
      );
    }, intervalMs);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    await this.client.close();
  }
}
