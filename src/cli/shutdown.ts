// How a serving process stops: the first request to stop (a signal, the primary, the
// primary's loss, a failure, an exception nothing caught) is kept until what it stops has
// started, then carried out once; later requests only say that the stop is under way.

/**
 * The signals that stop Verdict as SIGTERM does: Ctrl-C, and the hang-up of the terminal
 * it was started from (by default that would end it at once, its last audit records with it).
 */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Those a terminal sends to every process of its group. */
const TERMINAL_SIGNALS = ["SIGINT", "SIGHUP"] as const;

/** How long a process stopping after an exception nothing caught has before it exits regardless (it may be unable to stop). */
const FAULT_STOP_MS = 30_000;

/** The exit code of a process ended by an exception nothing caught, as Node's own. */
const FAULT_EXIT_CODE = 1;

export class Shutdown {
  private asked: string | undefined;
  private hadFault = false;
  private finished = false;
  private carryOut: ((why: string) => Promise<void>) | undefined;
  private repeated: (why: string) => void = () => undefined;
  private done: () => void = () => undefined;
  private readonly closeOnFailure: (() => Promise<void>)[] = [];
  private readonly onSignal = (signal: NodeJS.Signals) => this.ask(signal);
  private readonly leaveToPrimary = () => undefined;
  private onFault: ((error: unknown) => void) | undefined;
  /** Resolves once a stop has been carried out. */
  readonly stopped = new Promise<void>((resolve) => (this.done = resolve));

  /** SIGINT, SIGTERM and SIGHUP ask for the stop from now on: one that comes while the server starts is kept for it. */
  onSignals(): this {
    for (const signal of TERMINAL_SIGNALS) process.off(signal, this.leaveToPrimary);
    // Once per process, however often called: each listener added twice would outlive release().
    for (const signal of STOP_SIGNALS) process.off(signal, this.onSignal).on(signal, this.onSignal);
    return this;
  }

  /**
   * In a process of several, until it listens for signals: Ctrl-C and a hang-up, which a
   * terminal sends to every process of the group, are the primary's to carry out (it stops
   * this process once started, where the signal would end it and fail the start). SIGTERM
   * still ends it.
   */
  leaveTerminalSignalsToPrimary(): this {
    for (const signal of TERMINAL_SIGNALS) process.on(signal, this.leaveToPrimary);
    return this;
  }

  /**
   * From now on an exception nothing caught (or a rejection nothing handled) asks for the
   * stop, where Node would end the process at once with the audit records still in its
   * buffers: the calls in flight are finished and every record written, then the process
   * ends in error (`faulted` says so; a primary starts another). `report` hears each such
   * exception. After FAULT_STOP_MS the process exits regardless: the exception may have
   * left it unable to finish.
   */
  stopOnFaults(report: (error: unknown, first: boolean) => void): this {
    // A second call replaces the first's handler rather than adding one release() could not remove.
    if (this.onFault) process.off("uncaughtException", this.onFault);
    this.onFault = (error) => {
      const first = !this.hadFault;
      report(error, first);
      if (!first) return;
      this.hadFault = true;
      setTimeout(() => process.exit(FAULT_EXIT_CODE), FAULT_STOP_MS).unref();
      this.ask("uncaught exception");
    };
    process.on("uncaughtException", this.onFault);
    return this;
  }

  /** True once an exception nothing caught has asked for the stop. */
  get faulted(): boolean {
    return this.hadFault;
  }

  /** What to close when the start fails (the start closes the rest itself). */
  onFailedStart(close: () => Promise<void>): void {
    this.closeOnFailure.push(close);
  }

  /** A start that failed (or a server that failed) has nothing left to stop: closes what onFailedStart named, and signals and exceptions end the process again as by default. */
  async release(): Promise<void> {
    for (const signal of TERMINAL_SIGNALS) process.off(signal, this.leaveToPrimary);
    for (const signal of STOP_SIGNALS) process.off(signal, this.onSignal);
    if (this.onFault) process.off("uncaughtException", this.onFault);
    await Promise.allSettled(this.closeOnFailure.map((close) => close()));
  }

  /** Asks for the stop: carried out now if the server has started, else once it has. */
  ask(why: string): void {
    if (this.asked !== undefined) return this.repeated(why);
    this.asked = why;
    this.start();
  }

  /** True once the stop has been carried out. */
  get complete(): boolean {
    return this.finished;
  }

  /** How to stop, given once the server has started; `repeated` hears each later request. */
  stopWith(carryOut: (why: string) => Promise<void>, repeated: (why: string) => void = () => undefined): Promise<void> {
    this.carryOut = carryOut;
    this.repeated = repeated;
    this.start();
    return this.stopped;
  }

  private start(): void {
    const why = this.asked;
    const carryOut = this.carryOut;
    if (why === undefined || carryOut === undefined) return;
    this.carryOut = undefined;
    void carryOut(why).finally(() => {
      this.finished = true;
      this.done();
    });
  }
}
