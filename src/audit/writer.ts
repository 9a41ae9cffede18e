// The batched writer: decisions are taken into a bounded buffer (the request path
// does nothing slower than building the record), written to MongoDB in batches by
// one background loop, spilled to the local append-only file while the database is
// unavailable, and replayed from it when the database returns. Nothing is dropped:
// a record is in memory, in the database or durably in a spill file, and when it
// can be none of these the decision is refused (docs/audit.md).
import { randomUUID } from "node:crypto";
import type { AuditConfig } from "./config.js";
import type { DecisionEvent, DecisionRecorder } from "../decide/index.js";
import type { Logger } from "../observability/index.js";
import { maskRulesFrom, type MaskRules } from "./mask.js";
import { buildEventRecord, type AuditEvent } from "./events.js";
import { buildRecord, type TrailRecord } from "./record.js";
import { REFUSAL_WINDOW_MS, RefusalTally, type RefusalKey } from "./refusals.js";
import { EventRepeats } from "./repeats.js";
import { sha256Hex } from "../token/index.js";
import { TOKEN_REASONS } from "@verdict/sdk/wire";
import type { SpillChunk, SpillDirectory } from "./spill.js";
import type { AuditStore, WriteOutcome } from "./store.js";

export type AuditSettings = Pick<
  AuditConfig,
  "retention_days" | "batch_size" | "flush_interval_ms" | "max_buffered" | "retry_interval_ms" | "purge_interval_ms"
> &
  Partial<Pick<AuditConfig, "max_buffered_bytes">>;

/** Default of audit.max_buffered_bytes. */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export interface AuditLogOptions {
  store: AuditStore;
  spill: SpillDirectory;
  settings: AuditSettings;
  log: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

export interface AuditStats {
  /** Records taken (into memory or straight into the spill file). */
  accepted: number;
  /** Decisions refused because their record could not be kept anywhere. */
  refused: number;
  /** Written to the database from memory. */
  written: number;
  /** Appended to a spill file. */
  spilled: number;
  /** Written to the database from spill files. */
  replayed: number;
  /** Refused by the database as invalid, or unreadable in a spill file; kept in rejected-*.jsonl. */
  rejected: number;
  /** Spill file lines without a valid HMAC (not written by Verdict): never replayed, kept in rejected-*.jsonl. */
  forged: number;
  /** Lost at shutdown: neither the database nor the spill file could take them (logged). */
  lost: number;
  /** In memory, waiting. */
  buffered: number;
  /** Their size (as JSON text), bounded by audit.max_buffered_bytes. */
  bufferedBytes: number;
  /** In memory, in the write under way. */
  writing: number;
  databaseAvailable: boolean;
}

const DAY_MS = 86_400_000;
/** A record's size beside what the caller sent (ids, names, reasons, obligations): at most about this. */
const RECORD_BYTES = 2_048;

function hasAuditSettings(data: Readonly<Record<string, unknown>>): boolean {
  const settings = data["settings"];
  return typeof settings === "object" && settings !== null && (settings as Record<string, unknown>)["audit"] !== undefined;
}

export class AuditLog implements DecisionRecorder {
  private buffer: TrailRecord[] = [];
  /** The size of what is in `buffer`, and of each record (as JSON text, about what it takes in memory). */
  private bufferedBytes = 0;
  private readonly sizes = new WeakMap<TrailRecord, number>();
  private available = true;
  private spillFailing = false;
  private phase: "open" | "closing" | "closed" = "open";
  private pump: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private replayPending: boolean;
  private spillGeneration = 0;
  private replaying: { generation: number; files: string[]; current?: { path: string; chunks: AsyncGenerator<SpillChunk> } } | undefined;
  private indexesReady = false;
  private indexesWarned = false;
  private writing = 0;
  private flushDue = false;
  private readonly timers: {
    flush?: NodeJS.Timeout;
    retry?: NodeJS.Timeout;
    probe?: NodeJS.Timeout;
    indexes?: NodeJS.Timeout;
    purge?: NodeJS.Timeout;
    refusals?: NodeJS.Timeout;
  } = {};
  /** Refused tokens, and requests refused for unavailable state, counted per window rather than recorded one by one (refusals.ts). */
  private readonly refusals = new RefusalTally();
  /** Repeats of a refused attempt (an event marked counted) in the same window, counted into one record (repeats.ts). */
  private readonly repeats = new EventRepeats();
  private readonly masks = new WeakMap<object, MaskRules | undefined>();
  /** The masking rules of the last bundle that had settings.audit. */
  private lastRules: MaskRules | undefined;
  private readonly counts = { accepted: 0, refused: 0, written: 0, spilled: 0, replayed: 0, rejected: 0, forged: 0, lost: 0 };
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly retentionMs: number;

  constructor(private readonly options: AuditLogOptions) {
    this.log = options.log.child({ component: "audit", database: options.store.databaseName });
    this.now = options.now ?? Date.now;
    this.retentionMs = options.settings.retention_days * DAY_MS;
    this.replayPending = options.spill.hasPending();
  }

  /** Creates indexes, starts the retention purge, and replays files left by earlier runs. */
  start(): void {
    this.kick(); // creates the indexes, purges, then replays what earlier runs left
    this.timers.purge = setInterval(() => void this.purge(), this.options.settings.purge_interval_ms).unref();
  }

  /**
   * Reads the masking rules of the bundle Verdict starts with, so that a bundle
   * reloaded before the first decision, without settings.audit, still keeps them.
   */
  adoptMaskingOf(data: Readonly<Record<string, unknown>>): void {
    this.masksOf(data);
  }

  ready(): boolean {
    return !(this.bufferFull(0) && this.spillFailing);
  }

  /** Full by count (max_buffered) or by bytes (max_buffered_bytes) once `adding` more bytes come in. */
  private bufferFull(adding: number): boolean {
    const maxBytes = this.options.settings.max_buffered_bytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    return this.buffer.length >= this.options.settings.max_buffered || (this.buffer.length > 0 && this.bufferedBytes + adding > maxBytes);
  }

  /** Takes up to `count` records from the front of the buffer (all when undefined). */
  private drain(count?: number): TrailRecord[] {
    const taken = count === undefined ? this.buffer.splice(0) : this.buffer.splice(0, count);
    for (const record of taken) this.bufferedBytes -= this.sizes.get(record) ?? 0;
    if (this.buffer.length === 0) this.bufferedBytes = 0;
    return taken;
  }

  /** Puts records back at the front of the buffer (a write that failed). */
  private putBack(records: readonly TrailRecord[]): void {
    this.buffer.unshift(...records);
    for (const record of records) this.bufferedBytes += this.sizes.get(record) ?? 0;
  }

  record(event: DecisionEvent): boolean {
    // Counted only while open: a tally taken during shutdown would never be written.
    const refusal = this.phase === "open" ? refusalKey(event) : undefined;
    if (refusal && this.refusals.repeat(refusal, new Date(event.startedAt))) {
      this.counts.accepted += 1;
      return true;
    }
    let record: TrailRecord;
    try {
      record = buildRecord(event, { masks: this.masksOf(event.policy.data), retentionMs: this.retentionMs });
    } catch (error) {
      this.log.error({ err: error, decisionId: event.decisionId }, "could not build an audit record");
      this.counts.refused += 1;
      return false;
    }
    if (this.phase === "closed") return this.take([record], () => this.spillRecords([record]));
    if (refusal && this.refusals.add(record, refusal)) {
      this.counts.accepted += 1;
      this.countingWindow();
      return true;
    }
    return this.keep(record, event.input.bytes);
  }

  /**
   * Keeps an audit event (a suspension, an approval: events.ts) the way a decision is
   * kept; false when it could be kept neither in memory nor in the spill file.
   */
  recordEvent(event: AuditEvent): boolean {
    const now = this.now();
    const build = () => buildEventRecord(event, { id: randomUUID(), now, retentionMs: this.retentionMs });
    let record: TrailRecord;
    try {
      // Counted only while open, as refusals are; the first of a window is recorded below.
      if (this.phase === "open" && event.counted === true) {
        this.countingWindow();
        if (this.repeats.repeat(event, new Date(now), build)) {
          this.counts.accepted += 1;
          return true;
        }
      }
      record = build();
    } catch (error) {
      this.log.error({ err: error, event: event.kind, action: event.action }, "could not build an audit event");
      this.counts.refused += 1;
      return false;
    }
    if (this.phase === "closed") return this.take([record], () => this.spillRecords([record]));
    return this.keep(record);
  }

  /**
   * Into the buffer (or, when it is full, the spill file with what it holds). Its
   * size for the byte bound: what the caller sent (measured at the edge, or here)
   * and a kilobyte for the rest, which Verdict writes and bounds itself.
   */
  private keep(record: TrailRecord, sent?: number): boolean {
    const size = RECORD_BYTES + (sent ?? JSON.stringify(record).length);
    this.sizes.set(record, size);
    if (this.bufferFull(size)) {
      // The database is not keeping up, or is down: memory stays bounded, in records
      // and in bytes, by moving what is buffered to the spill file now; it is
      // replayed from there.
      return this.take([record], () => {
        if (!this.spillRecords([...this.buffer, record])) return false;
        this.drain();
        return true;
      });
    }
    this.buffer.push(record);
    this.bufferedBytes += size;
    this.counts.accepted += 1;
    this.schedule();
    return true;
  }

  /** Starts the window at whose end counted refusals and repeated events are kept, unless one is open. */
  private countingWindow(): void {
    this.timers.refusals ??= setTimeout(() => {
      this.timers.refusals = undefined;
      this.keepCounted();
    }, REFUSAL_WINDOW_MS).unref();
  }

  /** The window's counted refusals and repeated events, as records, into the buffer (they were counted as accepted when taken). */
  private keepCounted(): void {
    for (const record of [...this.refusals.take(), ...this.repeats.take()]) {
      if (this.keep(record)) this.counts.accepted -= 1;
      else this.log.error({ recordId: record._id, count: record.count }, "could not keep a record of counted refusals or repeated events");
    }
  }

  stats(): AuditStats {
    return { ...this.counts, buffered: this.buffer.length, bufferedBytes: this.bufferedBytes, writing: this.writing, databaseAvailable: this.available };
  }

  /** Writes what is buffered now, counted refusals included, and waits for it (tests, and anyone who needs the trail current). */
  async flush(): Promise<void> {
    if (this.phase === "open" && (this.refusals.size > 0 || this.repeats.size > 0)) {
      clearTimeout(this.timers.refusals);
      this.timers.refusals = undefined;
      this.keepCounted();
    }
    while (this.phase === "open" && (this.buffer.length > 0 || this.pump)) {
      const before = this.buffer.length;
      this.flushDue = true;
      this.kick();
      await this.pump;
      if (!this.available || (this.buffer.length >= before && before > 0)) return;
    }
  }

  /**
   * Stops the background work and writes every buffered record: to the database,
   * or, when it does not answer within the write timeout, to the spill file (it is
   * replayed at the next start). Records that arrive afterwards go to the spill file.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // From here on nothing starts a timer or a write of its own: what is buffered,
    // the window's counted refusals and records taken while closing included, is
    // written (or spilled) below.
    this.phase = "closing";
    for (const name of Object.keys(this.timers) as (keyof AuditLog["timers"])[]) {
      clearTimeout(this.timers[name]);
      this.timers[name] = undefined;
    }
    this.keepCounted();
    await this.pump;
    await this.replaying?.current?.chunks.return(undefined);
    this.replaying = undefined;
    while (this.buffer.length > 0) {
      if (this.available) {
        const batch = this.drain(this.options.settings.batch_size);
        try {
          this.wrote(await this.options.store.insert(batch));
          continue;
        } catch (error) {
          this.available = false;
          this.log.warn({ err: (error as Error).message }, "audit database unavailable at shutdown; spilling what is left");
          this.putBack(batch);
        }
      }
      const rest = this.drain();
      if (!this.spillRecords(rest)) {
        this.counts.lost += rest.length;
        this.log.fatal({ lost: rest.length, dir: this.options.spill.dir }, "audit records lost at shutdown: the database and the spill file both failed");
      }
    }
    this.phase = "closed";
    this.log.info({ ...this.stats(), spillBytes: this.options.spill.pendingBytes() }, "audit trail closed");
  }

  /** Counts a record taken by `keep`, or refused when `keep` fails. */
  private take(records: readonly TrailRecord[], keep: () => boolean): boolean {
    if (keep()) {
      this.counts.accepted += records.length;
      return true;
    }
    this.counts.refused += records.length;
    return false;
  }

  private masksOf(data: Readonly<Record<string, unknown>>): MaskRules | undefined {
    if (this.masks.has(data)) return this.masks.get(data);
    let rules: MaskRules | undefined;
    try {
      if (!hasAuditSettings(data) && this.lastRules) {
        // A reloaded bundle that says nothing about masking must not turn it off.
        this.log.warn("the policy data has no settings.audit; keeping the masking rules of the previous bundle");
        rules = this.lastRules;
      } else {
        rules = maskRulesFrom(data);
        if (!hasAuditSettings(data)) this.log.warn("the policy data has no settings.audit: only credentials are masked in audit records");
        else this.lastRules = rules;
      }
    } catch (error) {
      // Checked at start; a bundle that gets here with bad rules keeps nothing
      // caller-supplied rather than something it should have masked.
      this.log.error({ err: (error as Error).message }, "invalid audit masking rules in the policy data; records keep no context or attributes");
      rules = undefined;
    }
    this.masks.set(data, rules);
    return rules;
  }

  /**
   * Writes wait for a full batch or for the flush interval, whichever comes first:
   * under load that gives few, large writes rather than one small write after
   * another (each costs the server and this event loop per call, not per record).
   */
  private schedule(): void {
    if (this.pump || this.phase !== "open") return; // the loop reschedules when it ends
    if (this.buffer.length >= this.options.settings.batch_size) {
      this.kick();
    } else {
      this.timers.flush ??= setTimeout(() => {
        this.timers.flush = undefined;
        this.flushDue = true;
        this.kick();
      }, this.options.settings.flush_interval_ms);
    }
  }

  private kick(): void {
    if (this.pump || this.phase !== "open") return;
    this.pump = this.run()
      .catch((error: unknown) => this.log.error({ err: error }, "audit writer loop failed; retrying"))
      .finally(() => {
        this.pump = undefined;
        if (this.buffer.length > 0 && !this.timers.retry) this.schedule();
      });
  }

  /** The one background loop: buffered batches first, then replay, one step at a time. */
  private async run(): Promise<void> {
    // Indexes before the first write: the collection is created with them (the
    // TTL index included), and no server sees the two race.
    if (!this.indexesReady && this.available && !this.timers.indexes) await this.createIndexes();
    while (this.phase === "open") {
      if (this.buffer.length >= this.options.settings.batch_size || (this.flushDue && this.buffer.length > 0)) {
        const batch = this.drain(this.options.settings.batch_size);
        if (this.buffer.length === 0) this.flushDue = false;
        if (!(await this.writeBatch(batch))) return;
      } else if (this.replayPending && this.available) {
        await this.replayStep();
      } else {
        return;
      }
    }
  }

  /** False when the batch could be neither written nor spilled (it is back in the buffer). */
  private async writeBatch(batch: TrailRecord[]): Promise<boolean> {
    if (this.available) {
      this.writing = batch.length;
      try {
        this.wrote(await this.options.store.insert(batch));
        return true;
      } catch (error) {
        this.unavailable(error);
      } finally {
        this.writing = 0;
      }
    }
    if (this.spillRecords(batch)) return true;
    this.putBack(batch);
    this.retryLater(() => {
      this.flushDue = true;
      this.kick();
    });
    return false;
  }

  private wrote(outcome: WriteOutcome, replayed = false): void {
    if (replayed) this.counts.replayed += outcome.written;
    else this.counts.written += outcome.written;
    if (outcome.refused.length === 0) return;
    this.counts.rejected += outcome.refused.length;
    this.log.error(
      { refused: outcome.refused.map((r) => ({ decisionId: r.record._id, error: r.error })) },
      "the database refused audit records as invalid; kept in the spill directory's rejected file",
    );
    this.keepRejected(outcome.refused.map((r) => JSON.stringify(r.record)));
  }

  /** Lines that will never be written (refused, unreadable) are kept for people to look at. */
  private keepRejected(lines: string[]): void {
    try {
      this.options.spill.reject(lines);
    } catch (error) {
      this.counts.lost += lines.length;
      this.log.fatal({ err: (error as Error).message, lines: lines.length }, "could not keep rejected audit records");
    }
  }

  private spillRecords(records: readonly TrailRecord[]): boolean {
    if (records.length === 0) return true;
    try {
      this.options.spill.append(records);
    } catch (error) {
      if (!this.spillFailing) this.log.error({ err: (error as Error).message, dir: this.options.spill.dir }, "cannot write the audit spill file");
      this.spillFailing = true;
      return false;
    }
    if (this.spillFailing) this.log.info({ dir: this.options.spill.dir }, "the audit spill file is writable again");
    this.spillFailing = false;
    this.counts.spilled += records.length;
    this.spillGeneration += 1;
    this.replayPending = true;
    return true;
  }

  /** One retry timer at a time, and none once shutdown has begun (it would only hold the process). */
  private retryLater(action: () => void): void {
    if (this.phase !== "open" || this.timers.retry) return;
    this.timers.retry = setTimeout(() => {
      this.timers.retry = undefined;
      action();
    }, this.options.settings.retry_interval_ms);
  }

  private unavailable(error: unknown): void {
    if (this.available) {
      this.log.warn({ err: (error as Error).message }, "audit database unavailable; records go to the spill file until it returns");
    }
    this.available = false;
    void this.replaying?.current?.chunks.return(undefined);
    this.replaying = undefined;
    this.probeLater();
  }

  private probeLater(): void {
    if (this.phase !== "open") return;
    this.timers.probe ??= setTimeout(() => {
      this.timers.probe = undefined;
      this.options.store.ping().then(
        () => {
          if (this.phase !== "open") return;
          this.available = true;
          this.log.info({ spillBytes: this.options.spill.pendingBytes() }, "audit database is back; replaying spilled records");
          this.kick();
        },
        () => this.probeLater(),
      );
    }, this.options.settings.retry_interval_ms);
  }

  /** Writes one chunk of the spill files to the database (idempotently: by decision id). */
  private async replayStep(): Promise<void> {
    if (!this.replaying) {
      try {
        this.replaying = { generation: this.spillGeneration, files: this.options.spill.claim() };
      } catch (error) {
        this.log.error({ err: (error as Error).message }, "cannot read the audit spill directory; retrying");
        this.replayPending = false;
        this.retryLater(() => {
          this.replayPending = true;
          this.kick();
        });
        return;
      }
    }
    const pass = this.replaying;
    if (!pass.current) {
      const path = pass.files.shift();
      if (path === undefined) {
        this.replaying = undefined;
        // Records spilled during this pass are in a newer file: go round again.
        this.replayPending = this.spillGeneration !== pass.generation;
        return;
      }
      pass.current = { path, chunks: this.options.spill.read(path, this.options.settings.batch_size) };
    }
    const current = pass.current;
    const next = await current.chunks.next();
    if (next.done) {
      this.options.spill.remove(current.path);
      pass.current = undefined;
      this.log.info({ file: current.path }, "replayed an audit spill file");
      return;
    }
    const { records, bad, forged } = next.value;
    if (bad.length > 0) {
      this.log.error({ file: current.path, lines: bad.length }, "unreadable lines in an audit spill file; kept in the rejected file");
      this.counts.rejected += bad.length;
      this.keepRejected(bad);
    }
    if (forged.length > 0) {
      // Planted or edited: a forged ALLOW must never appear in the trail.
      this.log.error(
        { file: current.path, lines: forged.length },
        "audit spill lines that Verdict did not write (no valid HMAC): not replayed, kept in the rejected file for investigation",
      );
      this.counts.forged += forged.length;
      this.keepRejected(forged);
    }
    try {
      this.wrote(await this.options.store.upsert(records), true);
    } catch (error) {
      // The file stays ours; the next pass reads it again from the start, and
      // records already written are kept once (the decision id is the _id).
      this.unavailable(error);
    }
  }

  private async createIndexes(): Promise<void> {
    try {
      await this.options.store.ensureIndexes();
      this.indexesReady = true;
      this.log.info("audit indexes ready");
      await this.purge(); // records past retention left from earlier runs, before anything new is written
    } catch (error) {
      if (this.phase !== "open") return;
      const level = this.indexesWarned ? "debug" : "warn";
      this.indexesWarned = true;
      this.log[level]({ err: (error as Error).message }, "audit indexes not created yet; retrying");
      this.timers.indexes = setTimeout(() => {
        this.timers.indexes = undefined;
        this.kick();
      }, this.options.settings.retry_interval_ms);
    }
  }

  private async purge(): Promise<void> {
    if (!this.available || this.phase !== "open") return;
    try {
      const deleted = await this.options.store.purgeExpired(this.now());
      if (deleted > 0) this.log.info({ deleted }, "deleted audit records past retention");
    } catch {
      // the next interval tries again; the database may be down
    }
  }
}

/**
 * A decision refusing a token that did not verify (no principal), or a request only
 * because the state database was unavailable (nothing applied), is counted, not
 * recorded alone (refusals.ts): what identifies it.
 */
function refusalKey(event: DecisionEvent): RefusalKey | undefined {
  const { result, input } = event;
  const reason = result?.reasons[0]?.code;
  if (result?.decision !== "DENY" || reason === undefined) return undefined;
  const verified = event.principal !== undefined || result.principal !== undefined;
  const counted = verified ? reason === "state_unavailable" && result.reasons.length === 1 && result.obligations.length === 0 : reason in TOKEN_REASONS;
  if (!counted) return undefined;
  const key = { api: input.caller.name, reason, sha256: input.token === "" ? "" : (event.tokenHash ?? sha256Hex(input.token)) };
  return verified ? { ...key, request: JSON.stringify([input.action, input.resource.type, input.resource.id, input.dryRun]) } : key;
}
