// Reads of state by _id, batched: while MAX_IN_FLIGHT reads are under way, the reads
// asked for meanwhile wait and go together as one `find` when one of them returns.
// Under load many concurrent decisions then cost a few round trips, not one each;
// alone, a read goes at once.
const MAX_IN_FLIGHT = 2;
/** Ids in one find at most (the reply stays bounded). */
const MAX_IDS = 512;

interface Waiting<T> {
  ids: readonly string[];
  /** When it was asked for (performance.now()). */
  since: number;
  resolve(docs: Map<string, T>): void;
  reject(error: unknown): void;
}

export class ReadBatcher<T extends { _id: string }> {
  private inFlight = 0;
  private readonly waiting: Waiting<T>[] = [];

  /** `fetch` reads the ids; `waitingSince` is when the first of the reads it serves was asked for. */
  constructor(private readonly fetch: (ids: string[], waitingSince: number) => Promise<T[]>) {}

  /** The documents among `ids` that exist, by _id. */
  read(ids: readonly string[]): Promise<Map<string, T>> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ ids, since: performance.now(), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.waiting.length > 0) {
      const batch: Waiting<T>[] = [];
      const ids = new Set<string>();
      while (this.waiting.length > 0) {
        const next = this.waiting[0] as Waiting<T>;
        if (batch.length > 0 && ids.size + next.ids.length > MAX_IDS) break;
        this.waiting.shift();
        batch.push(next);
        for (const id of next.ids) ids.add(id);
      }
      this.inFlight += 1;
      this.fetch([...ids], (batch[0] as Waiting<T>).since)
        .then(
          (docs) => {
            const byId = new Map(docs.map((doc) => [doc._id, doc]));
            for (const one of batch) one.resolve(byId);
          },
          (error: unknown) => {
            for (const one of batch) one.reject(error);
          },
        )
        .finally(() => {
          this.inFlight -= 1;
          this.pump();
        });
    }
  }
}
