// A delivery's claim on a SET, held while it applies the SET's events. The claim holds
// another delivery off for CLAIM_MS after its claimed_at; an apply can take longer
// (several events, each write at its own deadline), so the claim is renewed every third
// of that while the apply runs. Renewed rather than the apply cut short at a deadline:
// a deadline does not stop writes already sent, and a SET slow to apply would never be applied.
//
// The apply looks at its lease before each event, and stops (its events so far stay
// applied; they are applied again, as after any failure, by the delivery that ends it):
// - taken_over: a renewal found the claim another delivery's, which applies the SET now;
//   applying more beside it is what the claim is there to prevent.
// - lapsed: no renewal reached the database for CLAIM_MS, so another delivery may have
//   taken the claim over without this one knowing.
// - stopping: Verdict is stopping (SsfReceiver.close) and did not wait longer for it.

import { VerdictError } from "../errors/index.js";

/** Why an apply stopped before its next event. */
export type LeaseLoss = "taken_over" | "lapsed" | "stopping";

/** The delivery answers 503 (temporarily unavailable): the transmitter delivers the SET again. */
export class ClaimLost extends VerdictError {
  constructor(readonly why: LeaseLoss) {
    super("state_unavailable", `the SET's claim is no longer this delivery's to apply (${why})`);
  }
}

export interface ClaimLeaseOptions {
  /** How long a claim holds another delivery off (CLAIM_MS). */
  claimMs: number;
  now: () => number;
  /** The claimed_at this delivery's claim was taken with. */
  claimedAt: number;
  /** Sets claimed_at to `at` under this delivery's claim: false when the claim is no longer its own. */
  renew: (at: Date) => Promise<boolean>;
  /** Told once, when a renewal finds the claim taken over. */
  onTakenOver: () => void;
  /** Told of a renewal that failed (the next is tried a third of claimMs later). */
  onRenewalFailed: (error: unknown) => void;
}

export class ClaimLease {
  /** The latest claimed_at known to be this delivery's in the database. */
  private heldSince: number;
  private lost: LeaseLoss | undefined;
  private stopAsked = false;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;

  constructor(private readonly options: ClaimLeaseOptions) {
    this.heldSince = options.claimedAt;
    this.schedule();
  }

  /** Throws ClaimLost when the apply must not go on to its next event. */
  check(): void {
    if (this.lost) throw new ClaimLost(this.lost);
    if (this.options.now() - this.heldSince >= this.options.claimMs) throw new ClaimLost("lapsed");
    if (this.stopAsked) throw new ClaimLost("stopping");
  }

  /** Verdict is stopping: the apply stops before its next event. */
  stop(): void {
    this.stopAsked = true;
  }

  /** The apply is over: no more renewals, and the one under way (if any) has ended when this resolves. */
  async end(): Promise<void> {
    this.ended = true;
    clearTimeout(this.timer);
    await this.renewing;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.renewing = this.renewOnce();
    }, this.options.claimMs / 3);
    this.timer.unref();
  }

  private async renewOnce(): Promise<void> {
    const at = this.options.now();
    try {
      if (await this.options.renew(new Date(at))) {
        this.heldSince = Math.max(this.heldSince, at);
      } else if (!this.ended) {
        this.lost = "taken_over";
        this.options.onTakenOver();
        return;
      }
    } catch (error) {
      if (!this.ended) this.options.onRenewalFailed(error);
    }
    if (!this.ended) this.schedule();
  }
}
