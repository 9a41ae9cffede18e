// The one MongoDB connection of a Verdict process, shared by the state stores, the
// shadow disagreement store and the audit trail, opened once in the composition
// root. Stores reach collections only through their own CollectionDef; this class
// creates their indexes and sweeps their dead documents.
import { MongoClient, type Collection, type Document } from "mongodb";
import { withDeadline } from "../deadline.js";
import { VerdictError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { DatabaseClock } from "./clock.js";
import type { CollectionDef, CollectionSpec } from "./collection.js";

export interface DatabaseOptions {
  uri: string;
  database: string;
  log: Logger;
  /** How long the driver looks for a server before a call fails (default 5 s). */
  serverSelectionTimeoutMs?: number;
  /** Connections kept open (default 24): as many as the calls the process may have in flight, so none waits for one. */
  poolSize?: number;
  /** Called with each command the driver starts (tests count round trips). */
  onCommand?: (commandName: string) => void;
}

/** Bound of index creation and sweeps: housekeeping, off the request path. */
const HOUSEKEEPING_MS = 30_000;

/**
 * How long close() lets writes under way in the background finish (a give-back's
 * retries: state/give-back.ts), so that a shutdown does not leave budget held that
 * they were about to give back.
 */
export const CLOSE_WAIT_MS = 5_000;

export class Database {
  private readonly used = new Map<string, CollectionSpec>();
  private readonly indexes = new Map<string, Promise<void>>();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  private everReached = false;
  /** Whether the driver sees a server it can write to (false during an outage). */
  private writable = false;
  private readonly reachedWaiters: (() => void)[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  /** Background writes close() waits for (finishBeforeClose). */
  private readonly finishing = new Set<Promise<void>>();
  /**
   * The database's clock, which windowed counters and the sweep go by (every process sharing the database agrees
   * on it, whatever their own clocks say): measured once connected, then every 30 s.
   */
  readonly clock: DatabaseClock;

  private constructor(
    private readonly client: MongoClient,
    readonly name: string,
    private readonly log: Logger,
    /** Connections the pool keeps open (and never more). */
    readonly poolSize: number,
  ) {
    this.clock = new DatabaseClock(() => this.client.db(this.name), { log });
  }

  /**
   * Connects lazily: Verdict starts (and decisions that need no state are made)
   * even while the database is down; the driver reconnects by itself.
   */
  static open({ uri, database, log, serverSelectionTimeoutMs = 5_000, poolSize = 24, onCommand }: DatabaseOptions): Database {
    const client = new MongoClient(uri, {
      appName: "verdict",
      // A warm, bounded pool: every connection opened once the indexes exist (prepare())
      // and kept, so that a state call's deadline is not spent opening one; opened several
      // at a time (the driver's default is two); never more than the calls admission lets through.
      maxPoolSize: poolSize,
      minPoolSize: poolSize,
      maxConnecting: Math.min(poolSize, 8),
      serverSelectionTimeoutMS: serverSelectionTimeoutMs,
      connectTimeoutMS: 5_000,
      // The driver checks an idle server every 10 s by default, so an outage went unseen
      // (ready, verdict_database_up 1) for up to 10 s; every 2 s costs one small command a
      // process and bounds that lag, and the return after an outage, to about 2 s.
      heartbeatFrequencyMS: 2_000,
      ...(onCommand ? { monitorCommands: true } : {}),
    });
    if (onCommand) client.on("commandStarted", (event) => onCommand(event.commandName));
    const db = new Database(client, database, log, poolSize);
    client.on("topologyDescriptionChanged", (event) => db.topologyChanged([...event.newDescription.servers.values()].some((server) => server.isWritable)));
    return db;
  }

  /** Whether a server has answered since this process started: readiness waits for it. */
  get reached(): boolean {
    return this.everReached;
  }

  /** Whether a server that takes writes is known to be up now (false during an outage, and before it was reached). */
  get available(): boolean {
    return this.everReached && this.writable;
  }

  /** Resolves once a server has answered (at once when one has). */
  whenReached(): Promise<void> {
    return this.everReached ? Promise.resolve() : new Promise((resolve) => this.reachedWaiters.push(resolve));
  }

  /**
   * Connects, retrying every `retryMs` until a server answers. The driver gives up
   * for good on a first connection that fails (its calls then say "Topology is
   * closed" forever), so a Verdict started while the database is down must connect
   * again itself; once connected, the driver follows outages on its own.
   */
  connectInBackground(retryMs = 2_000): void {
    let warned = false;
    const attempt = () => {
      this.retryTimer = undefined;
      if (this.closed) return;
      this.client.connect().then(
        async () => {
          if (this.closed) return;
          // Measured before the process is said to have reached the database (readiness waits for it).
          await this.clock.start();
          if (this.closed) return;
          this.everReached = true;
          this.writable = true;
          this.log.info({ database: this.name }, "database reached");
          for (const resolve of this.reachedWaiters.splice(0)) resolve();
        },
        (error: unknown) => {
          if (this.closed) return;
          this.log[warned ? "debug" : "warn"]({ database: this.name, err: (error as Error).message }, "database not reached yet; retrying in the background");
          warned = true;
          this.retryTimer = setTimeout(attempt, retryMs);
          this.retryTimer.unref();
        },
      );
    };
    attempt();
  }

  /** Outages after the first contact are logged once each way (decisions that need state fail closed meanwhile). */
  private topologyChanged(writable: boolean): void {
    if (writable === this.writable) return;
    this.writable = writable;
    if (!this.everReached || this.closed) return;
    if (writable) this.log.info({ database: this.name }, "database reachable again");
    else this.log.warn({ database: this.name }, "database unreachable: decisions that need state are denied (state_unavailable) until it returns");
  }

  /** The collection of a declaration; its indexes and sweep are this database's to run from now on. */
  collection<T extends Document>(def: CollectionDef<T>): Collection<T> {
    this.used.set(def.name, def);
    return this.client.db(this.name).collection<T>(def.name, def.writeConcern ? { writeConcern: def.writeConcern } : {});
  }

  private raw(spec: CollectionSpec): Collection {
    return this.client.db(this.name).collection(spec.name, spec.writeConcern ? { writeConcern: spec.writeConcern } : {});
  }

  /** Creates the declared indexes of `defs` (default: every collection in use), once; retried on the next call after a failure. */
  async ensureIndexes(defs: readonly CollectionSpec[] = [...this.used.values()]): Promise<void> {
    await Promise.all(defs.map((def) => this.ensureIndexesOf(def)));
  }

  private ensureIndexesOf(def: CollectionSpec): Promise<void> {
    let ready = this.indexes.get(def.name);
    if (!ready) {
      ready = this.bounded(`create ${def.name} indexes`, () => this.raw(def).createIndexes([...def.indexes])).then(
        () => undefined,
        (error: unknown) => {
          this.indexes.delete(def.name);
          throw error;
        },
      );
      this.indexes.set(def.name, ready);
    }
    return ready;
  }

  /**
   * Creates every index, then opens every connection of the pool (warm()), waiting at
   * most `waitMs`: a Verdict that starts while the database is down still starts, and
   * keeps trying in the background.
   */
  async prepare(waitMs: number, retryMs = 2_000): Promise<boolean> {
    const ready = this.ensureIndexes().then(() => this.warm());
    const ok = await withDeadline(ready, waitMs, () => new VerdictError("state_unavailable", `indexes not ready within ${waitMs} ms`)).then(
      () => true,
      () => false,
    );
    if (ok) this.log.info({ database: this.name }, "database indexes ready");
    else this.prepareInBackground(retryMs);
    return ok;
  }

  /**
   * Opens every connection of the pool now (as many pings at once as it holds), so
   * that the first burst of decisions finds them open rather than waiting for
   * connections to be established within their deadlines.
   */
  private async warm(): Promise<void> {
    await Promise.all(Array.from({ length: this.poolSize }, () => this.client.db(this.name).command({ ping: 1 })));
  }

  private prepareInBackground(retryMs: number): void {
    const attempt = () => {
      if (this.closed) return;
      this.ensureIndexes().then(
        () => this.log.info({ database: this.name }, "database indexes ready"),
        (error: unknown) => {
          if (this.closed) return;
          this.log.warn({ err: (error as Error).message }, "database indexes not created yet; the database is unavailable, retrying");
          setTimeout(attempt, retryMs).unref();
        },
      );
    };
    attempt();
  }

  /** Deletes the documents of `def` whose expiry has passed (bounded by the caller, or by the housekeeping bound). */
  async deleteExpired(def: CollectionSpec, now: Date): Promise<number> {
    const field = def.expiresAt;
    if (field === undefined) return 0;
    const filter: Document = { [field]: { $lte: now } };
    const result = await this.bounded(`sweep ${def.name}`, () => this.raw(def).deleteMany(filter));
    return result.deletedCount;
  }

  /** One sweep over every swept collection in use (counters, single-use keys, the ledger, shadow disagreements). */
  async sweepExpired(now: Date): Promise<number> {
    let removed = 0;
    for (const def of this.used.values()) {
      if (def.expiresAt !== undefined && def.swept !== false) removed += await this.deleteExpired(def, now);
    }
    return removed;
  }

  /**
   * Sweeps every `intervalMs`, on the database's clock (as MongoDB's own TTL monitor does: a process whose clock is
   * ahead must not delete what is still live); errors are logged, never fatal.
   */
  startSweeping(intervalMs: number): void {
    this.sweeper = setInterval(() => {
      // Not before the database's clock is measured: on this process's, one ahead would delete what is live.
      if (this.clock.measuredOffsetMs() === undefined) return;
      this.sweepExpired(new Date(this.clock.now())).then(
        (removed) => removed > 0 && this.log.debug({ removed }, "expired documents removed"),
        (error: unknown) => this.log.warn({ err: (error as Error).message }, "could not remove expired documents; will retry"),
      );
    }, intervalMs);
    this.sweeper.unref();
  }

  /** A ping under the housekeeping bound, or, given `signal`, under the caller's own (the state calls' while it is silent). */
  async ping(signal?: AbortSignal): Promise<void> {
    const ping = () => this.client.db(this.name).command({ ping: 1 }, signal ? { signal } : {});
    await (signal ? ping() : this.bounded("ping", ping));
  }

  /** Closed by close(): what fails after it failed because of it, not because the database is down. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Background work that should reach the database before it is closed (a give-back's retries): close() waits for it, at most CLOSE_WAIT_MS. */
  finishBeforeClose(work: Promise<unknown>): void {
    const tracked: Promise<void> = work.then(
      () => undefined,
      () => undefined,
    );
    this.finishing.add(tracked);
    void tracked.then(() => this.finishing.delete(tracked));
  }

  async close(): Promise<void> {
    if (this.finishing.size > 0) {
      const under = this.finishing.size;
      // the tracked work never fails: only the deadline rejects
      const finished = await withDeadline(
        Promise.all(this.finishing).then(() => true),
        CLOSE_WAIT_MS,
        () => new Error("give-backs still under way"),
      ).catch(() => false);
      if (!finished)
        this.log.warn(
          { underWay: this.finishing.size, waitedMs: CLOSE_WAIT_MS },
          "closing the database with give-backs still under way: what they hold stays held until it expires",
        );
      else this.log.info({ finished: under }, "give-backs under way finished before the database was closed");
    }
    this.closed = true;
    this.clock.stop();
    clearInterval(this.sweeper);
    clearTimeout(this.retryTimer);
    await this.client.close();
  }

  private bounded<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return withDeadline(operation(), HOUSEKEEPING_MS, () => new VerdictError("state_unavailable", `${what}: no answer within ${HOUSEKEEPING_MS} ms`));
  }
}
