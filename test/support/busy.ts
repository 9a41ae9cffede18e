// A process too busy to take in an answer: the event loop held, on purpose, once a
// database command has been sent, while the server's answer waits in the socket (a
// flood of requests being parsed, a long garbage collection). A deadline that
// measures the database, not the loop, still sees the answer as in time.

export interface LoopHolder {
  /** Database.open's onCommand: holds the loop `ms` right after each `command` is sent. */
  onCommand(name: string): void;
  /** How many times the loop was held. */
  readonly held: number;
}

export function holdLoopAfter(command: string, ms: number): LoopHolder {
  let held = 0;
  return {
    onCommand(name) {
      if (name !== command) return;
      // After this turn, so that the command is written first.
      setImmediate(() => {
        const until = performance.now() + ms;
        while (performance.now() < until); // busy, on purpose
        held += 1;
      });
    },
    get held() {
      return held;
    },
  };
}
