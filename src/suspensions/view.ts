// The suspensions in force, in this process's memory, indexed by the identifiers a
// principal carries: a Check looks its principal up in a few map reads, never with
// a database trip. The follower (follower.ts) replaces the whole set on each change.
import type { JsonObject } from "@verdict/sdk/wire";
import type { SuspensionTarget } from "../contract/index.js";
import type { Principal } from "../token/index.js";
import type { SuspensionRecord } from "./store.js";
import { describeTarget } from "./target.js";

/** One suspension as the view keeps it (times in ms since the epoch). */
export interface Held {
  id: string;
  target: SuspensionTarget;
  source: string;
  reason: string;
  since: number;
  until?: number;
  issuedBefore?: number;
}

export class SuspensionView {
  private byClient = new Map<string, Held[]>();
  private bySubject = new Map<string, Held[]>();
  private byDelegation = new Map<string, Held[]>();
  private byToken = new Map<string, Held[]>();
  private bySession = new Map<string, Held[]>();
  private count = 0;

  /** Replaces everything the view holds with these suspensions. */
  replace(records: readonly SuspensionRecord[]): void {
    type Index = Map<string, Held[]>;
    const maps: Record<"client" | "subject" | "delegation" | "token" | "session", Index> = {
      client: new Map(),
      subject: new Map(),
      delegation: new Map(),
      token: new Map(),
      session: new Map(),
    };
    const add = (map: Map<string, Held[]>, key: string | undefined, held: Held) => {
      if (key === undefined) return;
      const list = map.get(key);
      if (list) list.push(held);
      else map.set(key, [held]);
    };
    for (const record of records) {
      const held: Held = {
        id: record._id,
        target: record.target,
        source: record.source,
        reason: record.reason,
        since: record.since.getTime(),
        ...(record.expires_at ? { until: record.expires_at.getTime() } : {}),
        ...(record.issued_before ? { issuedBefore: record.issued_before.getTime() } : {}),
      };
      const { target } = record;
      if (target.kind === "agent") add(maps.client, target.client_id, held);
      else if (target.kind === "user") add(maps.subject, target.subject, held);
      else if (target.kind === "delegation") add(maps.delegation, delegationKey(target.subject ?? "", target.client_id ?? ""), held);
      else if (target.kind === "token") add(maps.token, target.token_id, held);
      else add(maps.session, target.session_id, held);
    }
    this.byClient = maps.client;
    this.bySubject = maps.subject;
    this.byDelegation = maps.delegation;
    this.byToken = maps.token;
    this.bySession = maps.session;
    this.count = records.length;
  }

  /** How many suspensions the view holds (some may have expired since the last reload). */
  get size(): number {
    return this.count;
  }

  /**
   * The suspension that stops this principal at `nowMs`, most specific first (its
   * token, its session, its delegation, its user, its agent: also an agent in its
   * act chain, which acts through it). Undefined when none does.
   */
  find(principal: Principal, nowMs: number): Held | undefined {
    const lists = [
      principal.tokenId !== undefined ? this.byToken.get(principal.tokenId) : undefined,
      principal.sessionId !== undefined ? this.bySession.get(principal.sessionId) : undefined,
      this.byDelegation.get(delegationKey(principal.subject, principal.clientId)),
      this.bySubject.get(principal.subject),
      this.byClient.get(principal.clientId),
      ...principal.actors.map((actor) => (actor.clientId !== undefined ? this.byClient.get(actor.clientId) : undefined)),
    ];
    for (const list of lists) {
      const held = list?.find((candidate) => applies(candidate, principal, nowMs));
      if (held) return held;
    }
    return undefined;
  }
}

function delegationKey(subject: string, clientId: string): string {
  return `${subject}\n${clientId}`;
}

function applies(held: Held, principal: Principal, nowMs: number): boolean {
  if (held.until !== undefined && held.until <= nowMs) return false;
  if (held.target.issuer !== undefined && held.target.issuer !== principal.issuer) return false;
  // A revocation stops the tokens issued before it; a token that does not say when it was issued is stopped too.
  if (held.issuedBefore !== undefined && principal.issuedAt !== undefined && principal.issuedAt * 1000 >= held.issuedBefore) return false;
  return true;
}

/** What the caller is told (never the operator's reason: it may name internal facts; the audit trail keeps it). */
export function suspendedMessage(held: Held): string {
  const { issuer: _issuer, ...target } = held.target;
  const what = `The ${describeTarget(target)}`;
  const until = held.until !== undefined ? ` until ${new Date(held.until).toISOString()}` : " until it is resumed";
  if (held.issuedBefore !== undefined) return `${what}: tokens issued before ${new Date(held.issuedBefore).toISOString()} are revoked.`;
  return `${what} is suspended${until}.`;
}

/** What a policy that decides for suspended principals sees as input.suspension. */
export function policyView(held: Held): JsonObject {
  const { kind, ...identifiers } = held.target;
  return {
    id: held.id,
    kind,
    target: { ...identifiers },
    source: held.source.split(":")[0] ?? held.source,
    reason: held.reason,
    since: Math.floor(held.since / 1000),
    until: held.until !== undefined ? Math.floor(held.until / 1000) : null,
    ...(held.issuedBefore !== undefined ? { issued_before: Math.floor(held.issuedBefore / 1000) } : {}),
  };
}
