// The deadline every state call has, end to end (server selection, checkout, I/O).
import type { Collection, Document } from "mongodb";
import type { Logger } from "../observability/index.js";
import { performance } from "node:perf_hooks";
import { withDeadline } from "../deadline.js";
import { isDuplicateKey, StateUnavailableError } from "./errors.js";

/**
 * Told of each call when it ends: its operation (e.g. "reserve"), its time, and how
 * it failed: timeout (no answer within the deadline), conflict (a duplicate key: a
 * write that raced another, which the store resolves), error (anything else).
 */
export type CallObserver = (operation: string, seconds: number, failure?: CallFailure) => void;
export type CallFailure = "timeout" | "conflict" | "error";

export class StateCalls {
  constructor(
    readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly onCall?: CallObserver,
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
    const started = performance.now();
    let failure: CallFailure | undefined;
    try {
      const timedOut = () => {
        failure = "timeout";
        return new StateUnavailableError(`${what}: no answer within ${this.timeoutMs} ms`);
      };
      return await withDeadline(running, this.timeoutMs, timedOut, undoLate);
    } catch (error) {
      failure ??= isDuplicateKey(error) ? "conflict" : "error";
      if (error instanceof StateUnavailableError) throw error;
      throw new StateUnavailableError(`${what}: ${(error as Error).message}`, { cause: error });
    } finally {
      this.onCall?.(what, (performance.now() - started) / 1_000, failure);
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
