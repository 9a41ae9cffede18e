// Tells a chat tool or an identity provider of each new pending approval, so that it
// can ask the person: a JSON POST signed with HMAC-SHA256 over "<timestamp>.<body>"
// (Verdict-Timestamp, Verdict-Signature: v1=<hex>), retried with exponential backoff
// and jitter on network errors, 429 and 5xx. It runs beside decisions, never in them.
import { createHmac } from "node:crypto";
import type { Logger } from "../observability/index.js";
import type { ApprovalView } from "./view.js";

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

export class ApprovalWebhook {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  private closed = false;

  constructor(private readonly options: WebhookOptions) {}

  /** Sends in the background; returns at once. */
  notify(approval: ApprovalView): void {
    const body = JSON.stringify({ type: "approval.requested", approval });
    this.attempt(body, approval.approval_id, 1);
  }

  private attempt(body: string, id: string, attempt: number): void {
    if (this.closed) return;
    void this.send(body).then((outcome) => {
      if (outcome === "delivered") return;
      const { max_attempts, log } = this.options;
      if (outcome === "rejected" || attempt >= max_attempts) {
        log.warn({ approval: id, attempts: attempt, outcome }, "approval webhook not delivered; giving up");
        return;
      }
      const base = this.options.baseDelayMs ?? 500;
      const delay = Math.min(30_000, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.attempt(body, id, attempt + 1);
      }, delay);
      timer.unref();
      this.timers.add(timer);
    });
  }

  private async send(body: string): Promise<"delivered" | "retry" | "rejected"> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.timeout_ms);
    this.inFlight.add(controller);
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
      this.inFlight.delete(controller);
    }
  }

  /** Stops retrying; deliveries in flight are abandoned. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const controller of this.inFlight) controller.abort();
    this.timers.clear();
  }
}
