// Suspensions as one part of a running Verdict: the stage a Check passes through
// (check: from memory), the changes people, identity providers and policies make
// (suspend, resume: in MongoDB, each an audit event), and the follower that keeps
// every replica's view current.
import { reason } from "@verdict/sdk/wire";
import type { AuditEvent, AuditEventActor } from "../audit/index.js";
import type { PolicySuspension, SuspendStatus, SuspensionKind, SuspensionPort, SuspensionTarget } from "../contract/index.js";
import type { Database } from "../database/index.js";
import type { SuspensionGate, SuspensionVerdict } from "../decide/index.js";
import type { Logger } from "../observability/index.js";
import type { Principal } from "../token/index.js";
import type { SuspensionsConfig } from "./config.js";
import { SuspensionFollower, type FollowerStats } from "./follower.js";
import { SuspensionStore, SuspensionStoreError, type SuspensionRecord } from "./store.js";
import { suspensionId, targetFields } from "./target.js";
import { policyView, suspendedMessage, SuspensionView } from "./view.js";

/** Where audit events go (the audit trail's recordEvent). */
export interface EventRecorder {
  recordEvent(event: AuditEvent): boolean;
}

export interface SuspendRequest {
  target: SuspensionTarget;
  reason: string;
  /** Absent: until resumed. */
  seconds?: number;
  /** Only tokens issued before this time (ms since the epoch) are stopped: a revocation. */
  issuedBefore?: number;
  /** When the identity provider's event that asks for it happened (ms since the epoch): a resume by an earlier event leaves it. */
  eventAt?: number;
  by: AuditEventActor;
  /** admin, policy, ssf:<transmitter>:<event> (store.ts). */
  source: string;
  decisionId?: string;
  /** Audit details beyond the suspension itself (an SSF event's type and jti). */
  details?: Record<string, unknown>;
}

export type ResumeRequest = (
  | { id: string }
  | {
      target: SuspensionTarget;
      sources?: string[];
      /** The resuming event's time (ms since the epoch): a suspension made by a later event is kept (an identity provider's events may arrive out of order). */
      eventAt?: number;
    }
) & {
  reason?: string;
  by: AuditEventActor;
  details?: Record<string, unknown>;
};

export interface SuspensionsOptions {
  database: Database;
  settings: SuspensionsConfig;
  log: Logger;
  /** The audit trail; without it changes are only logged. */
  events?: EventRecorder;
  now?: () => number;
}

/** The longest a timed suspension may last (a longer one is until resumed). */
export const MAX_SUSPENSION_SECONDS = 366 * 86_400;

/** A change the other replicas could not be told of is announced again after this, doubling up to ANNOUNCE_RETRY_MAX_MS. */
export const ANNOUNCE_RETRY_MS = 1_000;
const ANNOUNCE_RETRY_MAX_MS = 30_000;

export class Suspensions implements SuspensionGate, SuspensionPort {
  private readonly store: SuspensionStore;
  private readonly view = new SuspensionView();
  private readonly follower: SuspensionFollower;
  private readonly log: Logger;
  private readonly now: () => number;
  /** The next try at announcing a change whose announcement failed (none pending: undefined), and its chain's number. */
  private announcing: { timer: NodeJS.Timeout; chain: number } | undefined;
  private announceChains = 0;
  private closed = false;

  constructor(private readonly options: SuspensionsOptions) {
    this.log = options.log.child({ component: "suspensions" });
    this.now = options.now ?? Date.now;
    this.store = new SuspensionStore(options.database);
    this.follower = new SuspensionFollower(this.store, this.view, options.settings, this.log, this.now);
  }

  /** Loads the set and follows it; resolves true once loaded, false after `waitMs` (not ready yet: it keeps trying). */
  start(waitMs: number): Promise<boolean> {
    return this.follower.start(waitMs);
  }

  /** Readiness: the set was loaded once. */
  get loaded(): boolean {
    return this.follower.loaded;
  }

  stats(): FollowerStats {
    return this.follower.stats();
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.announcing) {
      this.log.warn("closing with a suspension change the other replicas could not be told of: they learn of it with the next change");
      this.stopAnnouncing();
    }
    return this.follower.stop();
  }

  check(principal: Principal, nowMs: number, policyData: Readonly<Record<string, unknown>>): SuspensionVerdict | undefined {
    // Never loaded is the stalest view of all (the replica is not ready meanwhile): when_stale decides, as for a stale one.
    if (!this.follower.loaded) {
      if (this.options.settings.when_stale === "deny_all") {
        return { outcome: "deny", reason: reason("state_unavailable", "Suspensions are not loaded yet; no decision can be made.") };
      }
      return undefined;
    }
    const held = this.view.find(principal, nowMs);
    if (held) {
      if (policyDecides(policyData)) return { outcome: "policy", suspension: policyView(held) };
      return { outcome: "deny", reason: reason("principal_suspended", suspendedMessage(held)) };
    }
    if (this.options.settings.when_stale === "deny_all" && !this.follower.fresh()) {
      return { outcome: "deny", reason: reason("state_unavailable", "The suspension list could not be refreshed in time; no decision can be made.") };
    }
    return undefined;
  }

  /** A policy's suspend obligation: the principal's part it names, for its time. */
  async suspend(request: PolicySuspension): Promise<SuspendStatus> {
    const { status } = await this.add(
      {
        target: request.target,
        reason: request.reason,
        seconds: request.seconds,
        by: { via: "policy", api: request.api },
        source: "policy",
        decisionId: request.decisionId,
      },
      request.nowMs,
    );
    return status;
  }

  /** Suspends a target (AdminService, SSF). */
  add(request: SuspendRequest, nowMs: number = this.now()): Promise<{ status: SuspendStatus; suspension: SuspensionRecord }> {
    return this.change(
      async () => {
        const record: SuspensionRecord = {
          _id: suspensionId(request.source, request.target),
          target: request.target,
          target_key: suspensionId("", request.target),
          source: request.source,
          reason: request.reason,
          by: request.by,
          since: new Date(nowMs),
          ...(request.seconds !== undefined ? { expires_at: new Date(nowMs + Math.min(request.seconds, MAX_SUSPENSION_SECONDS) * 1_000) } : {}),
          ...(request.issuedBefore !== undefined ? { issued_before: new Date(request.issuedBefore) } : {}),
          ...(request.eventAt !== undefined ? { event_at: new Date(request.eventAt) } : {}),
          ...(request.decisionId !== undefined ? { decision_id: request.decisionId } : {}),
        };
        const outcome = await this.store.suspend(record, new Date(nowMs));
        // Recorded once it is written, before the replicas are told: a retry after that fails finds it made, and records nothing more.
        if (outcome.status !== "already_suspended") {
          this.record(outcome.status, outcome.suspension, request.by, request.reason, request.decisionId, request.details);
        }
        return outcome;
      },
      // A brake fires again on every decision past its threshold (until its suspension reaches the replica deciding):
      // such a repeat is not announced to every replica again. Each replica whose brake fires reloads its own view.
      (outcome) => outcome.status !== "already_suspended" || request.source !== "policy",
    );
  }

  /** Lifts the suspensions in force of a target (of some sources), or one by id; returns those it lifted (none: nothing was suspended). */
  remove(request: ResumeRequest, nowMs: number = this.now()): Promise<SuspensionRecord[]> {
    return this.change(async () => {
      const which =
        "id" in request
          ? { id: request.id }
          : {
              targetKey: suspensionId("", request.target),
              ...(request.sources ? { sources: request.sources } : {}),
              ...(request.eventAt !== undefined ? { eventAtOrBefore: new Date(request.eventAt) } : {}),
            };
      const { removed, kept } = await this.store.resume(which, new Date(nowMs));
      for (const suspension of removed) this.record("resumed", suspension, request.by, request.reason, undefined, request.details);
      for (const suspension of kept) {
        this.log.info(
          {
            suspensionId: suspension._id,
            source: suspension.source,
            eventAt: suspension.event_at?.toISOString(),
            resumingEventAt: "eventAt" in request && request.eventAt !== undefined ? new Date(request.eventAt).toISOString() : undefined,
            via: request.by.via,
            ...request.details,
          },
          "suspension not resumed: it was made by a later event than the one resuming it",
        );
      }
      return removed;
    });
  }

  /** The suspensions in force now, newest first. */
  list(options: { kind?: SuspensionKind; limit?: number } = {}): Promise<SuspensionRecord[]> {
    return this.store.active(new Date(this.now()), options);
  }

  /**
   * A change, then the other replicas told (they follow within the propagation bound)
   * and this process's own view reloaded at once. They are told even when the write
   * found its change already made: that is how a retry after a failed bump reaches them.
   * A bump that fails is also tried again in the background (a policy's brake is not
   * made again by anyone, and its repeats are not announced).
   */
  private async change<T>(write: () => Promise<T>, announce: (result: T) => boolean = () => true): Promise<T> {
    let result: T;
    try {
      result = await write();
    } catch (error) {
      // A write that timed out may have landed all the same: announced in the background in case it did.
      this.announceLater(ANNOUNCE_RETRY_MS);
      throw error;
    }
    try {
      if (announce(result)) {
        await this.store.bump();
        // one bump announces every change made before it
        this.stopAnnouncing();
      }
    } catch (error) {
      this.announceLater(ANNOUNCE_RETRY_MS);
      throw new SuspensionStoreError(
        `the change was made, but the other replicas could not be told of it (${(error as Error).message}); make the same request again`,
        { cause: error },
      );
    } finally {
      await this.follower.refreshNow();
    }
    return result;
  }

  /**
   * Bumps the version after `delayMs`, again (doubling the wait) until it is taken: one chain of tries at a time,
   * which a bump made meanwhile ends (stopAnnouncing), as does close.
   */
  private announceLater(delayMs: number, chain = ++this.announceChains): void {
    if (this.closed || (this.announcing && this.announcing.chain !== chain)) return;
    const timer = setTimeout(() => {
      this.store.bump().then(
        () => {
          if (this.announcing?.chain !== chain) return;
          this.announcing = undefined;
          this.log.info("a suspension change the other replicas could not be told of is announced now");
        },
        (error: unknown) => {
          if (this.announcing?.chain !== chain) return; // ended meanwhile
          this.log.warn({ err: (error as Error).message }, "the other replicas still cannot be told of a suspension change; trying again");
          this.announceLater(Math.min(delayMs * 2, ANNOUNCE_RETRY_MAX_MS), chain);
        },
      );
    }, delayMs);
    timer.unref();
    this.announcing = { timer, chain };
  }

  /** Ends the chain of tries at announcing, if one is under way (its try in flight, if any, is its last). */
  private stopAnnouncing(): void {
    if (!this.announcing) return;
    clearTimeout(this.announcing.timer);
    this.announcing = undefined;
  }

  private record(
    action: string,
    suspension: SuspensionRecord,
    by: AuditEventActor,
    why: string | undefined,
    decisionId?: string,
    details?: Record<string, unknown>,
  ): void {
    const event: AuditEvent = {
      kind: "suspension",
      action,
      actor: by,
      target: targetFields(suspension.target),
      ...(why !== undefined && why !== "" ? { reason: why } : {}),
      ...(decisionId !== undefined ? { decision_id: decisionId } : {}),
      details: {
        suspension_id: suspension._id,
        source: suspension.source,
        until: suspension.expires_at?.toISOString() ?? null,
        ...(suspension.issued_before ? { issued_before: suspension.issued_before.toISOString() } : {}),
        ...(suspension.event_at ? { event_at: suspension.event_at.toISOString() } : {}),
        ...details,
      },
    };
    const kept = this.options.events?.recordEvent(event) ?? true;
    const logged = { action, suspensionId: suspension._id, target: event.target, via: by.via, source: suspension.source };
    if (kept) this.log.info(logged, `suspension ${action}`);
    else this.log.error(logged, `suspension ${action}, but the audit trail could not keep its record`);
  }
}

/** Whether the bundle lets its policy decide for suspended principals (settings.suspensions.policy_decides). */
function policyDecides(data: Readonly<Record<string, unknown>>): boolean {
  const settings = data["settings"];
  if (typeof settings !== "object" || settings === null) return false;
  const suspensions = (settings as Record<string, unknown>)["suspensions"];
  return typeof suspensions === "object" && suspensions !== null && (suspensions as Record<string, unknown>)["policy_decides"] === true;
}
