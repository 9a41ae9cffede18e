// Tells a chat tool or an identity provider of each new pending approval, so that it
// can ask the person: a JSON POST signed with HMAC-SHA256 over "<timestamp>.<body>"
// (Verdict-Timestamp, Verdict-Signature: v1=<hex>), retried with exponential backoff
// and jitter on network errors, 429 and 5xx. It runs beside decisions, never in them,
// and holds a bounded number of deliveries: at most MAX_SENDING POSTs at once, at most
// MAX_WAITING more waiting for their turn or their retry; one more is dropped (logged),
// and the approval is still kept and listed.
import { createHmac } from "node:crypto";
import { CountedWarning, type Logger } from "../observability/index.js";
import type { ApprovalView } from "./view.js";

/** POSTs in flight at once, per process. */
export const MAX_SENDING = 8;
/** Deliveries waiting (their first try or a retry) behind those in flight, per process; beyond it one more is dropped. */
export const MAX_WAITING = 1_000;

export interface WebhookOptions {
  url: string;
  secret: string;
  max_attempts: number;
  timeout_ms: number;
  log: Logger;
  /** The first retry's delay; each next one doubles it (up to 30 s). */
  baseDelayMs?: number;
}

export const SIGNATURE_HEADER = "verdict-signature";
export const TIMESTAMP_HEADER = "verdict-timestamp";

export function signature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`, "utf8").digest("hex")}`;
}

interface Delivery {
  body: string;
  id: string;
  /** The try it is at, from 1. */
  attempt: number;
}

export class ApprovalWebhook {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  /** Deliveries whose turn (first try or retry) has come, oldest first, while MAX_SENDING are in flight. */
  private readonly ready: Delivery[] = [];
  private readonly dropped: CountedWarning;
  private closed = false;

  constructor(private readonly options: WebhookOptions) {
    this.dropped = new CountedWarning(options.log, "approval webhook: too many deliveries held; this one is dropped (the approval is kept and listed)", {
      sending: MAX_SENDING,
      waiting: MAX_WAITING,
    });
  }

  /** Sends in the background; returns at once. Dropped (and logged) when MAX_SENDING + MAX_WAITING deliveries are held already. */
  notify(approval: ApprovalView): void {
    if (this.closed) return;
    if (this.held() >= MAX_SENDING + MAX_WAITING) {
      this.dropped.count({ approval: approval.approval_id });
      return;
    }
    this.ready.push({ body: JSON.stringify({ type: "approval.requested", approval }), id: approval.approval_id, attempt: 1 });
    this.next();
  }

  /** Deliveries in flight, waiting for their turn, and waiting for a retry. */
  private held(): number {
    return this.inFlight.size + this.ready.length + this.timers.size;
  }

  /** Starts ready deliveries while fewer than MAX_SENDING are in flight. */
  private next(): void {
    while (!this.closed && this.inFlight.size < MAX_SENDING) {
      const delivery = this.ready.shift();
      if (!delivery) return;
      this.attempt(delivery);
    }
  }

  private attempt(delivery: Delivery): void {
    const controller = new AbortController();
    this.inFlight.add(controller);
    void this.send(delivery.body, controller).then((outcome) => {
      this.inFlight.delete(controller);
      this.settled(delivery, outcome);
      this.next();
    });
  }

  private settled({ body, id, attempt }: Delivery, outcome: "delivered" | "retry" | "rejected"): void {
    if (outcome === "delivered" || this.closed) return;
    const { max_attempts, log } = this.options;
    if (outcome === "rejected" || attempt >= max_attempts) {
      log.warn({ approval: id, attempts: attempt, outcome }, "approval webhook not delivered; giving up");
      return;
    }
    const base = this.options.baseDelayMs ?? 500;
    const delay = Math.min(30_000, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.ready.push({ body, id, attempt: attempt + 1 });
      this.next();
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  private async send(body: string, controller: AbortController): Promise<"delivered" | "retry" | "rejected"> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const timer = setTimeout(() => controller.abort(), this.options.timeout_ms);
    try {
      const response = await fetch(this.options.url, {
        method: "POST",
        headers: { "content-type": "application/json", [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: signature(this.options.secret, timestamp, body) },
        body,
        signal: controller.signal,
        redirect: "error",
      });
      await response.body?.cancel();
      if (response.ok) return "delivered";
      return response.status === 429 || response.status >= 500 ? "retry" : "rejected";
    } catch {
      return "retry";
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops retrying; deliveries in flight are abandoned, those waiting dropped. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const controller of this.inFlight) controller.abort();
    this.timers.clear();
    this.ready.length = 0;
  }
}
