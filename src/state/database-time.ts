// The windowed counters on the database's clock. Callers (the pipeline, the obligation
// types, the commands) speak their process's time; the store is handed the database's,
// so every process sharing the database puts an amount in the same bucket and drops
// the same buckets from a window, whatever its own clock says. A process whose clock
// ran ahead used to prune the others' live buckets, and one behind wrote into buckets
// already old: either way a window allowed more than its limit (docs/state.md).
import type { JsonObject } from "@verdict/sdk/wire";
import type { CounterPort, Holding, Reservation, StateQuery, StateReader, WindowSpec } from "../contract/index.js";
import type { CounterStore } from "./counters.js";
import { StateUnavailableError } from "./errors.js";

/** What the counters need of the database's clock: how far it is from this process's now, once measured. */
export interface OffsetSource {
  measuredOffsetMs(): number | undefined;
  /** Measures (or joins a measurement under way); true when it gave an offset. */
  measure(): Promise<boolean>;
}

/** When and for whom a reservation is made, as the store takes it. */
type ReserveAt = Parameters<CounterStore["reserve"]>[4];

export class CountersOnDatabaseTime implements CounterPort, StateReader {
  constructor(
    private readonly store: CounterStore,
    private readonly clock: OffsetSource,
  ) {}

  /** A reservation at `at.nowMs` (this process's time); a refusal's `fitsAtMs` comes back in this process's time too. */
  async reserve(key: readonly string[], window: WindowSpec, amount: number, limit: number, at: ReserveAt): Promise<Reservation> {
    // One offset for the way in and the way out: a retry_after is exact whatever a measurement changes meanwhile.
    const offset = await this.offset();
    const reserved = await this.store.reserve(key, window, amount, limit, { ...at, nowMs: at.nowMs + offset });
    return reserved.ok || reserved.fitsAtMs === undefined ? reserved : { ...reserved, fitsAtMs: reserved.fitsAtMs - offset };
  }

  async read(perDecision: readonly (readonly StateQuery[])[], nowMs: number): Promise<JsonObject[]> {
    // Nothing to read (a decision that declares no state): no clock needed either.
    if (perDecision.every((queries) => queries.length === 0)) return this.store.read(perDecision, nowMs);
    return this.store.read(perDecision, nowMs + (await this.offset()));
  }

  holdings(decisionId: string): Promise<Holding[]> {
    return this.store.holdings(decisionId);
  }

  give(holding: Holding, options?: { forget?: boolean }): Promise<boolean> {
    return this.store.give(holding, options);
  }

  private offset(): Promise<number> {
    return databaseOffset(this.clock, "windowed counters");
  }
}

/**
 * The database clock's offset from this process's; before a first measurement worked, one is made (or joined) now,
 * and without one `who` refuses, fail closed: on this process's clock a window could allow more than its limit, and
 * a single-use key could be swept while a token it guards is still accepted.
 */
export async function databaseOffset(clock: OffsetSource, who: string): Promise<number> {
  const known = clock.measuredOffsetMs();
  if (known !== undefined) return known;
  await clock.measure();
  const measured = clock.measuredOffsetMs();
  if (measured === undefined) throw new StateUnavailableError(`the database's clock is not measured yet: ${who} wait for it`);
  return measured;
}
