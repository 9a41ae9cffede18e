// How often the primary's processes die: a process that dies is replaced, unless
// processes die so often (a crash loop: a bundle or a database that ends each one at
// start) that replacing them is pointless and the server stops instead. Counted on the
// monotonic clock: on the wall clock, a step back (an NTP correction) kept each death
// in the window for the size of the step, so a handful over an hour stopped the server.

/** Processes that die more often than this within RESTART_WINDOW_MS stop the whole server. */
export const MAX_RESTARTS = 5;
export const RESTART_WINDOW_MS = 60_000;

export class RestartBudget {
  private readonly deaths: number[] = [];

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Counts a death; returns how many there were within the window, or undefined while a replacement is still due. */
  died(): number | undefined {
    const now = this.now();
    this.deaths.push(now);
    while (this.deaths.length > 0 && (this.deaths[0] as number) < now - RESTART_WINDOW_MS) this.deaths.shift();
    return this.deaths.length > MAX_RESTARTS ? this.deaths.length : undefined;
  }
}
