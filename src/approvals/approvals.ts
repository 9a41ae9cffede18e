// The approvals stage: after the policy asked for a person's yes, keep a pending
// approval bound to the request (and tell the webhook; the same request asked again
// gets the same approval, and an agent's pending ones are capped), or check and use the
// approval a retry names (the same user, agent, chain of agents, action, resource and
// bound fields); and, for the services, let the user (or an approver the
// policy named) approve or refuse with a token of their own. Every step is an
// audit event (docs/approvals.md).
import { randomUUID } from "node:crypto";
import { reason } from "@verdict/sdk/wire";
import type { AuditEvent } from "../audit/index.js";
import { APPROVAL_ID } from "../contract/index.js";
import { approvalChallenge, type ApprovalGate, type ApprovalOutcome, type ApprovalRequest, type Caller, type Challenge } from "../decide/index.js";
import { VerdictError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { giveBackOrRetry, StateUnavailableError } from "../state/index.js";
import { actorsOf, type Principal, type TokenVerifier } from "../token/index.js";
import { boundFields, chainOf, differs, requestKey, requirementDigest, sameChain, type Binding } from "./binding.js";
import { RETENTION_MS, statusAt, type ApprovalDoc, type ApprovalStore, type Decider, type ListFilter, type PendingOwner } from "./store.js";
import { viewOf, type ApprovalView } from "./view.js";
import type { ApprovalWebhook } from "./webhook.js";

/** Where events go (the audit trail's recordEvent). */
export interface EventSink {
  recordEvent(event: AuditEvent): boolean;
}

/** What the approver's token is verified against: the API the request was made to. */
export type ApiAudience = (api: string) => Pick<Caller, "audience" | "scopes" | "unknownScopes"> | undefined;

export interface ApprovalsOptions {
  store: ApprovalStore;
  verifier: TokenVerifier;
  apis: ApiAudience;
  /** The client_type of a person's token (approvals.human_client_types, normalised); only such a token decides. */
  humanClientTypes: readonly string[];
  /** approvals.max_pending_per_agent: approvals one agent may have pending for one user at one API. */
  maxPendingPerAgent: number;
  /** Where a person approves: {id} is replaced by the approval's id (asked each time: known only once the server serves). */
  url: () => string;
  events?: EventSink;
  webhook?: ApprovalWebhook;
  log: Logger;
  /**
   * The time approvals go by (created_at, expires_at, their checks and sweep): by default the database's clock, which
   * every process sharing the database agrees on. A test's clock replaces it, and decisions' times are then taken as given.
   */
  now?: () => number;
}

export interface DecideInput {
  approvalId: string;
  token: string;
  verdict: "approve" | "refuse";
  via: "grpc" | "http" | "cli";
  /** The API that called (gRPC), if any. */
  api?: string;
  /** Who passed the person's token on, when it was not the person: the console's signed-in operator. */
  operator?: { issuer: string; subject: string; client_id: string };
  reason?: string;
}

const MAX_REASON = 512;
/** Tries at keeping a new approval while the same request's pending one ends meanwhile (then state_unavailable). */
const KEEP_TRIES = 3;
/** A request asked again while its approval is pending tells the webhook again at most this often (a delivery may have been lost). */
export const REMIND_AFTER_MS = 5 * 60_000;

export function checkedApprovalId(id: string): string {
  if (!APPROVAL_ID.test(id)) throw new VerdictError("invalid_argument", "approval_id must be an approval id Verdict gave out (a lowercase UUID)");
  return id;
}

export class Approvals implements ApprovalGate {
  /** The time now on the database's clock (or the test's). */
  private readonly now: () => number;
  /** What to add to this process's time (a decision's nowMs) to get the database's. */
  private readonly offsetMs: () => number;

  constructor(private readonly options: ApprovalsOptions) {
    const clock = options.store.clock;
    this.now = options.now ?? (() => clock.now());
    this.offsetMs = options.now ? () => 0 : () => clock.offsetMs();
  }

  urlOf(id: string): string {
    return this.options.url().replaceAll("{id}", encodeURIComponent(id));
  }

  async settle(request: ApprovalRequest): Promise<ApprovalOutcome> {
    const { requirement, check, principal, caller, decisionId, dryRun } = request;
    // The decision's time is this process's: an approval's expiry is judged on the database's clock, as every process judges it.
    const nowMs = request.nowMs + this.offsetMs();
    const binding: Binding = {
      issuer: principal.issuer,
      subject: principal.subject,
      client_id: principal.clientId ?? "",
      actors: actorsOf(principal),
      action: check.action,
      resource: { type: check.resource.type, id: check.resource.id },
      ...boundFields(requirement.fields, check.context),
    };
    if (check.approvalId === undefined) {
      if (dryRun) {
        // A dry run keeps nothing: the challenge names no approval.
        return {
          kind: "challenge",
          challenge: approvalChallenge({
            expiresAt: Math.floor((nowMs + requirement.expiresInSeconds * 1000) / 1000),
            acrValues: requirement.acrValues,
            ...(requirement.maxAge !== undefined ? { maxAge: requirement.maxAge } : {}),
            authorizationDetails: requirement.authorizationDetails,
          }),
        };
      }
      return this.ask(request, binding, nowMs);
    }

    const id = check.approvalId;
    const now = new Date(nowMs);
    const doc = await this.options.store.get(id);
    if (!doc || doc.api !== caller.name) return deny("approval_not_found");
    const mismatch = differs(doc, binding);
    if (mismatch !== undefined) return deny("approval_mismatch", `The approval was given for ${mismatch}.`);
    if (requirementOf(doc) !== requirementDigest(requirement)) {
      return deny("approval_mismatch", "The approval was asked for under another requirement (the policy asks for more now): ask again without it.");
    }
    // A dry run writes nothing, not even the mark of an ended approval.
    const refusal = await this.unusable(doc, now, { mark: !dryRun });
    if (refusal) return refusal;
    if (dryRun) return { kind: "used", approvalId: id, giveBack: () => Promise.resolve() };
    const used = await this.options.store.consume(id, decisionId, now);
    if (!used) {
      // Another decision (on any replica) got there first, or it ended meanwhile.
      const again = await this.options.store.get(id);
      return (again && (await this.unusable(again, now))) ?? deny("approval_used");
    }
    this.event(used, "consumed", { via: "policy", api: caller.name }, { decision_id: decisionId });
    return {
      kind: "used",
      approvalId: id,
      // tried at once; when the database does not take it, again in the background (never twice: it is conditional on this decision's use)
      giveBack: async () => {
        const { store, log } = this.options;
        await giveBackOrRetry(
          "give back an approval",
          () => this.giveBackOnce(used, decisionId, caller.name, "the decision's obligations could not be applied"),
          {
            timeoutMs: store.timeoutMs,
            log,
            keepOpenFor: (work) => store.finishBeforeClose(work),
          },
        );
      },
    };
  }

  async giveBackUse(approvalId: string, decisionId: string, api: string): Promise<void> {
    const { store, log } = this.options;
    const used = await store.get(approvalId);
    if (used?.status !== "consumed" || used.consumed_by !== decisionId) return;
    await giveBackOrRetry("give back an approval", () => this.giveBackOnce(used, decisionId, api, "the decision's caller was not answered with it"), {
      timeoutMs: store.timeoutMs,
      log,
      keepOpenFor: (work) => store.finishBeforeClose(work),
    });
  }

  /**
   * Keeps a pending approval for a request that names none, and tells the webhook; the same request
   * asked again while its approval is pending gets that approval back, and an agent with
   * max_pending_per_agent pending for the user gets none (approval_limit): nobody is asked without end.
   */
  private async ask(request: ApprovalRequest, binding: Binding, nowMs: number): Promise<ApprovalOutcome> {
    const { requirement, caller, decisionId } = request;
    const { store } = this.options;
    const now = new Date(nowMs);
    const owner: PendingOwner = { api: caller.name, issuer: binding.issuer, subject: binding.subject, client_id: binding.client_id };
    const digest = requirementDigest(requirement);
    // Asked through another chain of agents, it is another request (the person was shown that chain, not this one):
    // neither given back nor ended, and it stays usable through its own chain.
    const pending = (await store.pendingFor(owner, binding, now, this.options.maxPendingPerAgent)).filter((doc) => sameChain(doc, binding));
    const asked = pending.find((doc) => requirementOf(doc) === digest);
    if (asked) {
      await this.remind(asked, now);
      return { kind: "challenge", challenge: this.challengeOf(asked) };
    }
    // The same request pending under another requirement (the policy asks for more, or for other terms, now): it
    // could not be used, so it is ended before the new one is counted, and the person is not asked for both.
    for (const old of pending) {
      const ended = await store.supersede(old._id, now);
      if (ended) this.event(ended, "expired", { via: "system" }, { reason: "the same request was asked again under another requirement" });
    }
    const expiresAt = nowMs + requirement.expiresInSeconds * 1000;
    const doc: ApprovalDoc = {
      _id: randomUUID(),
      status: "pending",
      api: caller.name,
      ...binding,
      fields: requirement.fields,
      created_at: now,
      expires_at: new Date(expiresAt),
      purge_at: new Date(expiresAt + RETENTION_MS),
      acr_values: requirement.acrValues,
      ...(requirement.maxAge !== undefined ? { max_age: requirement.maxAge } : {}),
      scopes: requirement.scopes,
      approvers: requirement.approvers,
      authorization_details: requirement.authorizationDetails,
      requested_by: decisionId,
      requirement: digest,
      request_key: requestKey(caller.name, binding, digest),
      notified_at: now,
    };
    const kept = await this.keep(doc, now);
    if (kept !== doc) return { kind: "challenge", challenge: this.challengeOf(kept) };
    if (!(await this.withinLimit(doc, now))) {
      const max = this.options.maxPendingPerAgent;
      return deny("approval_limit", `This agent already has ${max} approvals pending for this user; one must be decided or expire before it asks for another.`);
    }
    this.event(
      doc,
      "requested",
      { via: "policy", api: caller.name },
      {
        decision_id: decisionId,
        details: {
          action: doc.action,
          resource: doc.resource,
          actors: chainOf(doc),
          fields: doc.fields,
          context_digest: doc.digest,
          expires_at: doc.expires_at.toISOString(),
        },
      },
    );
    this.options.webhook?.notify(viewOf(doc, this.urlOf(doc._id), now));
    return { kind: "challenge", challenge: this.challengeOf(doc) };
  }

  /**
   * Keeps a new pending approval: `doc`, or the pending approval of the same request another process (or call)
   * kept meanwhile (unique request_key), which is then the one the person is asked about (announced by its keeper).
   * A holder of the key that ended (expired unmarked, or decided by a process of before 2026-12-07) frees it first.
   */
  private async keep(doc: ApprovalDoc, now: Date): Promise<ApprovalDoc> {
    const { store } = this.options;
    const key = doc.request_key ?? "";
    for (let tries = 0; tries < KEEP_TRIES; tries++) {
      if (await store.create(doc)) return doc;
      const holder = await store.holding(key);
      if (!holder) continue;
      const status = statusAt(holder, now);
      if (status === "pending") return holder;
      if (status === "expired" && holder.status === "pending") await this.expire(holder._id, now);
      else await store.release(holder._id, key);
    }
    throw new StateUnavailableError(`keep approval: the pending approval of the same request changed ${KEEP_TRIES} times meanwhile`);
  }

  /**
   * Tells the webhook again of a pending approval asked for again, when it was last told REMIND_AFTER_MS ago or more
   * (its delivery may have been lost; nobody else would be asked until it expires): once per period across replicas.
   * A reminder that cannot be claimed is left to the next ask.
   */
  private async remind(doc: ApprovalDoc, now: Date): Promise<void> {
    const { webhook, store, log } = this.options;
    if (!webhook || now.getTime() - (doc.notified_at ?? doc.created_at).getTime() < REMIND_AFTER_MS) return;
    try {
      if (!(await store.claimReminder(doc, now))) return;
    } catch (error) {
      log.warn({ approvalId: doc._id, err: (error as Error).message }, "could not claim an approval's reminder; the next ask tries again");
      return;
    }
    webhook.notify(viewOf(doc, this.urlOf(doc._id), now));
  }

  /**
   * Whether the approval just kept leaves its agent within max_pending_per_agent for the user; if not, it is
   * withdrawn before anyone is told of it. Counted after the insert, so requests racing on any replica never
   * leave more than the limit pending (each counts the others already kept); a count that cannot be read
   * fails closed (state_unavailable).
   */
  private async withinLimit(doc: ApprovalDoc, now: Date): Promise<boolean> {
    const { store, maxPendingPerAgent } = this.options;
    let pending: number;
    try {
      pending = await store.countPending(doc, now, maxPendingPerAgent + 1);
    } catch (error) {
      await store.withdraw(doc._id).catch(() => undefined);
      throw error;
    }
    if (pending <= maxPendingPerAgent) return true;
    await store.withdraw(doc._id);
    return false;
  }

  /** The approval_required challenge of a kept approval. */
  private challengeOf(doc: ApprovalDoc): Challenge {
    return approvalChallenge({
      id: doc._id,
      url: this.urlOf(doc._id),
      expiresAt: Math.floor(doc.expires_at.getTime() / 1000),
      acrValues: doc.acr_values,
      ...(doc.max_age !== undefined ? { maxAge: doc.max_age } : {}),
      authorizationDetails: doc.authorization_details,
    });
  }

  /** One try at undoing a decision's use of an approval; true (and its event written) when this try did it. */
  private async giveBackOnce(used: ApprovalDoc, decisionId: string, api: string, reason: string): Promise<boolean> {
    if (!(await this.options.store.giveBack(used._id, decisionId))) return false;
    this.event(used, "given_back", { via: "system", api }, { decision_id: decisionId, reason });
    return true;
  }

  /** Why an approval that binds this request cannot be used now; undefined when it is approved and unexpired. */
  private async unusable(doc: ApprovalDoc, now: Date, { mark = true } = {}): Promise<ApprovalOutcome | undefined> {
    const status = statusAt(doc, now);
    if (status === "approved") return undefined;
    if (status === "expired") {
      if (mark) await this.expire(doc._id, now);
      return deny("approval_expired");
    }
    if (status === "refused") return deny("approval_refused");
    if (status === "consumed") return deny("approval_used");
    return { kind: "challenge", reason: reason("approval_pending"), challenge: this.challengeOf(doc) };
  }

  /** Marks an ended approval expired, with its event, once. */
  private async expire(id: string, now: Date): Promise<void> {
    const expired = await this.options.store.markExpired(id, now);
    if (expired) this.event(expired, "expired", { via: "system" }, {});
  }

  /** Marks every approval that ended unused; returns how many. */
  async sweep(): Promise<number> {
    const now = new Date(this.now());
    const ids = await this.options.store.endedUnmarked(now, 500);
    for (const id of ids) await this.expire(id, now);
    return ids.length;
  }

  async get(id: string): Promise<ApprovalView> {
    const doc = await this.options.store.get(checkedApprovalId(id));
    if (!doc) throw new VerdictError("approval_not_found", `approval_not_found: no approval ${id}`);
    return viewOf(doc, this.urlOf(doc._id), new Date(this.now()));
  }

  /** The approval, to the person it is for (or a named approver), proven by their own token. */
  async viewFor(id: string, token: string): Promise<ApprovalView> {
    const doc = await this.options.store.get(checkedApprovalId(id));
    if (!doc) throw new VerdictError("approval_not_found", `approval_not_found: no approval ${id}`);
    const nowMs = this.now();
    await this.decider(doc, token, nowMs, { strength: false });
    return viewOf(doc, this.urlOf(doc._id), new Date(nowMs));
  }

  async list(filter: ListFilter): Promise<ApprovalView[]> {
    const now = new Date(this.now());
    return (await this.options.store.list(filter, now)).map((doc) => viewOf(doc, this.urlOf(doc._id), now));
  }

  /** A person approves or refuses, with a token of their own; every refusal is a typed error and changes nothing. */
  async decide(input: DecideInput): Promise<ApprovalView> {
    const id = checkedApprovalId(input.approvalId);
    if (input.reason !== undefined && input.reason.length > MAX_REASON)
      throw new VerdictError("invalid_argument", `reason must be at most ${MAX_REASON} characters`);
    const nowMs = this.now();
    const now = new Date(nowMs);
    const doc = await this.options.store.get(id);
    if (!doc) throw new VerdictError("approval_not_found", `approval_not_found: no approval ${id}`);
    // A verified token that may not decide (the requesting agent's own, another person's, one too weak or too old) is
    // an attempt the trail keeps: who tried, and why they were refused (a prompt-injected agent approving itself).
    const principal = await this.decider(doc, input.token, nowMs, {
      // counted: the same attempt repeated within the audit's window is one more record, with how many (an agent retrying at machine speed)
      onRefused: (tried, refusal) =>
        this.event(doc, "decide_refused", actorOf(tried, input), {
          reason: refusal.message,
          details: { code: refusal.code, verdict: input.verdict, ...operatorOf(input) },
          counted: true,
        }),
    });
    const status = statusAt(doc, now);
    if (status === "expired") {
      await this.expire(id, now);
      throw new VerdictError("approval_expired", `approval_expired: approval ${id} expired at ${doc.expires_at.toISOString()}`);
    }
    if (status !== "pending") throw new VerdictError("approval_not_pending", `approval_not_pending: approval ${id} is already ${status}`);
    const decider: Decider = {
      issuer: principal.issuer,
      subject: principal.subject,
      ...(principal.clientId !== undefined ? { client_id: principal.clientId } : {}),
      ...(principal.acr !== undefined ? { acr: principal.acr } : {}),
      via: input.via,
      at: now,
      ...(input.reason ? { reason: input.reason } : {}),
    };
    const decided = await this.options.store.decide(id, input.verdict === "approve" ? "approved" : "refused", decider, now);
    if (!decided) {
      const again = await this.options.store.get(id);
      const later = again ? statusAt(again, now) : "expired";
      if (later === "expired") throw new VerdictError("approval_expired", `approval_expired: approval ${id} expired at ${doc.expires_at.toISOString()}`);
      throw new VerdictError("approval_not_pending", `approval_not_pending: approval ${id} is already ${later}`);
    }
    this.event(decided, input.verdict === "approve" ? "approved" : "refused", actorOf(principal, input), {
      ...(input.reason ? { reason: input.reason } : {}),
      ...(input.operator ? { details: operatorOf(input) } : {}),
    });
    return viewOf(decided, this.urlOf(id), now);
  }

  /**
   * The deciding person: their own verified token, allowed to decide, strong and fresh enough. A verified token
   * refused for who it is or how it was authenticated is told to `onRefused` before the refusal is thrown.
   */
  private async decider(
    doc: ApprovalDoc,
    token: string,
    nowMs: number,
    { strength = true, onRefused }: { strength?: boolean; onRefused?: (principal: Principal, refusal: VerdictError) => void } = {},
  ): Promise<Principal> {
    const api = this.options.apis(doc.api);
    if (!api) throw new VerdictError("approval_not_found", `approval_not_found: approval ${doc._id} was made to an API this Verdict no longer serves`);
    // A token's times (exp, nbf, auth_time) are judged on this process's clock, as every token's is; the approval's on the database's.
    const tokenNowMs = nowMs - this.offsetMs();
    // A TokenError (invalid_token) says why the token was refused.
    const { principal } = await this.options.verifier.verify(token, {
      audience: api.audience,
      knownScopes: api.scopes,
      unknownScopes: api.unknownScopes,
      now: Math.floor(tokenNowMs / 1000),
    });
    const refusal = this.refusalOf(doc, principal, tokenNowMs, strength);
    if (refusal) {
      onRefused?.(principal, refusal);
      throw refusal;
    }
    return principal;
  }

  /** Why a verified principal may not decide `doc` (undefined: it may); with strength, also its authentication's. */
  private refusalOf(doc: ApprovalDoc, principal: Principal, tokenNowMs: number, strength: boolean): VerdictError | undefined {
    // The approval routes take no DPoP proof: a token bound to a key is not usable here as a plain bearer token.
    if (principal.confirmationJkt !== undefined) {
      return new VerdictError(
        "dpop_bound_token",
        "dpop_bound_token: this token is bound to a DPoP key (cnf.jkt) and the approval routes take no proof of possession: decide with a bearer token",
      );
    }
    if (principal.actors.length > 0 || (principal.clientId !== undefined && principal.clientId === doc.client_id)) {
      return new VerdictError(
        "approver_not_allowed",
        "approver_not_allowed: an approval is given with the person's own token, not the requesting agent's or a delegated one",
      );
    }
    // Any agent's token (another agent of the same user, a client that does not say what it is) is not the person's yes.
    if (!this.options.humanClientTypes.includes(principal.clientType)) {
      return new VerdictError(
        "approver_not_allowed",
        "approver_not_allowed: an approval is given with a person's own client, not an agent's (the token's client_type is not one of approvals.human_client_types)",
      );
    }
    const isUser = principal.issuer === doc.issuer && principal.subject === doc.subject;
    const isApprover = doc.approvers.some((a) => a.issuer === principal.issuer && a.subject === principal.subject);
    if (!isUser && !isApprover)
      return new VerdictError(
        "approver_not_allowed",
        "approver_not_allowed: only the user the request was made for, or an approver the policy names, may decide",
      );
    if (!strength) return undefined;
    const asked = doc.scopes ?? [];
    const missing = asked.filter((scope) => !principal.scopes.includes(scope));
    if (missing.length > 0) return new ApprovalScopeError(asked, missing);
    if (doc.acr_values.length > 0 && (principal.acr === undefined || !doc.acr_values.includes(principal.acr))) {
      return new VerdictError(
        "approval_authentication_insufficient",
        `approval_authentication_insufficient: deciding needs an authentication of acr ${doc.acr_values.join(" or ")}`,
      );
    }
    if (doc.max_age !== undefined && (principal.authTime === undefined || Math.floor(tokenNowMs / 1000) - principal.authTime > doc.max_age)) {
      return new VerdictError(
        "approval_authentication_insufficient",
        `approval_authentication_insufficient: deciding needs an authentication within the last ${doc.max_age} seconds (auth_time)`,
      );
    }
    return undefined;
  }

  private event(doc: ApprovalDoc, action: string, actor: AuditEvent["actor"], extra: Pick<AuditEvent, "decision_id" | "reason" | "details" | "counted">): void {
    const recorded = this.options.events?.recordEvent({
      kind: "approval",
      action,
      actor,
      target: { approval_id: doc._id, issuer: doc.issuer, subject: doc.subject, client_id: doc.client_id },
      ...extra,
    });
    if (recorded === false) this.options.log.error({ approval: doc._id, action }, "could not keep an approval event in the audit trail");
  }
}

/** approval_scope_insufficient, with every scope deciding needs (an HTTP refusal names them, RFC 6750 §3.1). */
export class ApprovalScopeError extends VerdictError {
  constructor(
    readonly scopes: readonly string[],
    missing: readonly string[],
  ) {
    super(
      "approval_scope_insufficient",
      `approval_scope_insufficient: deciding needs a token with the scope ${scopes.join(" ")} (it lacks ${missing.join(" ")})`,
    );
  }
}

/**
 * The requirement an approval was asked under, as requirementDigest() gives it: recorded, or (kept before
 * 2026-12-07) worked out from the fields it was kept with, which are the requirement's own.
 */
function requirementOf(doc: ApprovalDoc): string {
  return (
    doc.requirement ??
    requirementDigest({
      fields: doc.fields,
      expiresInSeconds: (doc.expires_at.getTime() - doc.created_at.getTime()) / 1000,
      acrValues: doc.acr_values,
      ...(doc.max_age !== undefined ? { maxAge: doc.max_age } : {}),
      scopes: doc.scopes ?? [],
      approvers: doc.approvers,
      authorizationDetails: doc.authorization_details,
    })
  );
}

function deny(
  code: "approval_not_found" | "approval_mismatch" | "approval_used" | "approval_refused" | "approval_expired" | "approval_limit",
  message?: string,
): ApprovalOutcome {
  return { kind: "deny", reason: message !== undefined ? reason(code, message) : reason(code) };
}

/** Who passed the deciding token on, as an event's details say it (nothing when the person sent it themselves). */
function operatorOf(input: DecideInput): { operator?: DecideInput["operator"] } {
  return input.operator ? { operator: { ...input.operator } } : {};
}

/** Who decided, or tried to: never their token. */
function actorOf(principal: Principal, input: DecideInput): AuditEvent["actor"] {
  return {
    via: input.via,
    ...(input.api !== undefined ? { api: input.api } : {}),
    issuer: principal.issuer,
    subject: principal.subject,
    ...(principal.clientId !== undefined ? { client_id: principal.clientId } : {}),
    ...(principal.acr !== undefined ? { acr: principal.acr } : {}),
  };
}
