// The deadline every state call has, end to end (server selection, checkout, I/O).
import type { Collection, Document } from "mongodb";
import type { Logger } from "../observability/index.js";
import { withDeadline } from "../deadline.js";
import { StateUnavailableError } from "./errors.js";

export class StateCalls {
  constructor(
    readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

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
}

/** A store over one collection of the state database: every call under the state deadline. */
export abstract class StateCollection<T extends Document> {
  constructor(
    protected readonly collection: Collection<T>,
    protected readonly calls: StateCalls,
  ) {}
}
