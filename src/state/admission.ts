// Admission of decisions to the database: at most `concurrency` decisions of this
// process do their state work at once; the others wait their turn, first come first
// served (by when each decision arrived, so that a burst is served in order and
// only its tail waits), for at most `queueTimeoutMs` from their arrival. A decision
// that cannot be admitted in time is refused before anything is read or written
// (OverloadedError: no decision, retry later), rather than every decision of the
// burst sharing the database until all of them miss their deadline together.
// Once admitted, a decision keeps its place until its state work is done.
import { OverloadedError } from "./errors.js";

export interface AdmissionOptions {
  /** Decisions doing state work at once. */
  concurrency: number;
  /** How long a decision may wait to be admitted, from its arrival. */
  queueTimeoutMs: number;
  /** Decisions that may wait at all; more are refused at once. */
  maxWaiting?: number;
  now?: () => number;
}

/** Releases an admitted decision's place (idempotent). */
export type Ticket = () => void;

interface Waiter {
  arrivedAt: number;
  seq: number;
  admit(ticket: Ticket): void;
  timer?: NodeJS.Timeout;
  settled: boolean;
}

const DEFAULT_MAX_WAITING = 10_000;

export class Admission {
  private active = 0;
  private waitingCount = 0;
  private seq = 0;
  /** A binary min-heap of waiters by (arrivedAt, seq); refused waiters are skipped when they reach the top. */
  private readonly heap: Waiter[] = [];
  private readonly now: () => number;

  constructor(private readonly options: AdmissionOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Decisions doing state work now, and waiting to. */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waitingCount };
  }

  /**
   * Resolves with a ticket once the decision (arrived at `arrivedAt`, ms since the
   * epoch) may do its state work; rejects with OverloadedError when it cannot be
   * admitted before `queueTimeoutMs` from its arrival or before `answerBy` (the
   * caller's own deadline), whichever comes first.
   */
  admit(arrivedAt: number, answerBy?: number): Promise<Ticket> {
    if (this.active < this.options.concurrency && this.waitingCount === 0) {
      this.active += 1;
      return Promise.resolve(this.ticket());
    }
    if (this.waitingCount >= (this.options.maxWaiting ?? DEFAULT_MAX_WAITING)) {
      return Promise.reject(new OverloadedError(`${this.waitingCount} decisions are already waiting for the database`, this.options.queueTimeoutMs));
    }
    const limit = Math.min(arrivedAt + this.options.queueTimeoutMs, answerBy ?? Infinity);
    const waitMs = limit - this.now();
    if (waitMs <= 0) return Promise.reject(new OverloadedError("no time is left to wait for the database", this.options.queueTimeoutMs));
    return new Promise<Ticket>((resolve, reject) => {
      const waiter: Waiter = { arrivedAt, seq: this.seq++, settled: false, admit: resolve };
      waiter.timer = setTimeout(() => {
        if (waiter.settled) return;
        waiter.settled = true;
        this.waitingCount -= 1;
        reject(new OverloadedError(`not admitted to the database within ${Math.round(limit - arrivedAt)} ms of arrival`, this.options.queueTimeoutMs));
      }, waitMs);
      this.push(waiter);
      this.waitingCount += 1;
    });
  }

  private ticket(): Ticket {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.active -= 1;
      this.next();
    };
  }

  private next(): void {
    while (this.active < this.options.concurrency) {
      const waiter = this.pop();
      if (!waiter) return;
      if (waiter.settled) continue;
      waiter.settled = true;
      clearTimeout(waiter.timer);
      this.waitingCount -= 1;
      this.active += 1;
      waiter.admit(this.ticket());
    }
  }

  private push(waiter: Waiter): void {
    const heap = this.heap;
    heap.push(waiter);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(waiter, heap[parent] as Waiter)) break;
      heap[i] = heap[parent] as Waiter;
      i = parent;
    }
    heap[i] = waiter;
  }

  private pop(): Waiter | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right] as Waiter, heap[left] as Waiter) ? right : left;
      if (!before(heap[child] as Waiter, last)) break;
      heap[i] = heap[child] as Waiter;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

function before(a: Waiter, b: Waiter): boolean {
  return a.arrivedAt < b.arrivedAt || (a.arrivedAt === b.arrivedAt && a.seq < b.seq);
}
