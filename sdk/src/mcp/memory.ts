// What the guard remembers between HTTP requests, keyed by the verified user and
// client (never by a session id alone, MCP elicitation §Statefulness): whether the
// client declared URL elicitation at initialize, and the step-ups it was sent to
// complete out of band. Bounded in entries and time; one process's memory, so with
// several replicas a client may at worst be asked once more.
import type { Principal } from "../decision.js";

export class BoundedMemory<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
    // Map keeps insertion order: the first key is the least recently set.
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

/** The user and the client, as Verdict verified them. */
export const principalKey = (principal: Principal): string => JSON.stringify([principal.issuer, principal.subject, principal.clientId]);

/**
 * A step-up sent as a URL elicitation. "elicited": the client was given the URL;
 * its next try of the same action gets the RFC 9470 challenge, so it fetches a new
 * token ("challenged"); if that token is still not enough, the URL is given again.
 */
export interface PendingStepUp {
  elicitationId: string;
  phase: "elicited" | "challenged";
}
