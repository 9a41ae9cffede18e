// Work on one document at a time in this process, what arrives meanwhile going
// together in the next turn: a hot counter (an agent's rate, one user's burst of
// transfers) costs one update per turn, not one per decision, and the database
// sees one writer per process instead of every decision queueing on the same
// document until all of them miss their deadline. A document nobody else is using
// is written at once, alone.

/** The outcome of one item of a turn. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Queued<T, R> {
  item: T;
  /** When it was submitted (performance.now()). */
  since: number;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/** Items at most in one turn (an update's size stays bounded). */
const MAX_TURN = 256;

export class Lanes<T, R> {
  private readonly lanes = new Map<string, Queued<T, R>[]>();

  /**
   * `turn` does one batch of one document's items, in arrival order, and says how each
   * went; `waitingSince` is when the first of them was submitted (StateCalls counts the
   * database's silence from then).
   */
  constructor(private readonly turn: (key: string, items: T[], waitingSince: number) => Promise<Settled<R>[]>) {}

  submit(key: string, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const queued = { item, since: performance.now(), resolve, reject };
      const queue = this.lanes.get(key);
      if (queue) {
        queue.push(queued);
        return;
      }
      this.lanes.set(key, [queued]);
      void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    for (;;) {
      const queue = this.lanes.get(key);
      if (!queue || queue.length === 0) {
        this.lanes.delete(key);
        return;
      }
      const batch = queue.splice(0, MAX_TURN);
      let results: Settled<R>[];
      try {
        results = await this.turn(
          key,
          batch.map((queued) => queued.item),
          (batch[0] as Queued<T, R>).since,
        );
      } catch (error) {
        results = batch.map(() => ({ ok: false, error }));
      }
      batch.forEach((queued, i) => {
        const result = results[i];
        if (result?.ok) queued.resolve(result.value);
        else queued.reject(result ? result.error : new Error("a turn gave no result"));
      });
    }
  }
}
