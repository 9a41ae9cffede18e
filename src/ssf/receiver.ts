// The Shared Signals receiver: Security Event Tokens (RFC 8417) pushed over HTTP
// (RFC 8935) by configured transmitters. A SET is verified with jose against its
// transmitter's JWKS (typ secevent+jwt, exact iss and aud, not too old), its jti is
// accepted once, and its events become suspensions (events.ts). Refusals carry the
// RFC 8935 error codes, are logged, and change nothing. Every call on the database is
// under a deadline (calls.ts); a delivery's claim is renewed while it applies (lease.ts).
import { randomUUID } from "node:crypto";
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { MongoServerError, type Collection } from "mongodb";
import { defineCollection, type Database } from "../database/index.js";
import { withDeadline } from "../deadline.js";
import { VerdictError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { pause } from "../state/index.js";
import type { Suspensions } from "../suspensions/index.js";
import { fileKeySource } from "../token/index.js";
import { bounded } from "./calls.js";
import type { SsfConfig, TransmitterConfig } from "./config.js";
import { EVENT_EFFECTS, RESUMED_BY_ENABLE, targetOf } from "./events.js";
import { ClaimLease, ClaimLost } from "./lease.js";
import { ResumeMarks } from "./resumes.js";

/** RFC 8935 §2.4 error codes. */
export type SetErrorCode = "invalid_request" | "invalid_key" | "invalid_issuer" | "invalid_audience" | "authentication_failed" | "access_denied";

/** What the HTTP route answers: 202 with no body, or an error. */
export type Delivery = { status: 202 } | { status: 400 | 503; body: { err: SetErrorCode | "temporarily_unavailable"; description: string } };

interface ReceivedSet {
  _id: string;
  expires_at: Date;
  /**
   * false while a delivery applies the SET (it holds the claim `claim` since claimed_at, renewed while it applies);
   * true once its events are suspensions. Absent on records kept before 2026-12-07: those were applied (or their
   * loss is as before).
   */
  applied?: boolean;
  claimed_at?: Date;
  /** The claiming delivery's own id: only it renews or lets go of the claim, or marks the SET applied (and it stays then). */
  claim?: string;
}

/** What a delivery may do with a SET's jti: apply it under its claim (taken at `at`), or not (applied before, or being applied). */
type Claim = { claim: string; at: number } | "applied" | "being_applied";

const RECEIVED = defineCollection<ReceivedSet>({ name: "ssf_received", indexes: [], expiresAt: "expires_at", writeConcern: { w: "majority", journal: true } });
const DUPLICATE_KEY = 11000;
const MAX_SET_BYTES = 32 * 1024;
const CLOCK_TOLERANCE_SECONDS = 60;
/**
 * How long a delivery's claim on a SET it has not applied holds off another delivery of it since the claim was
 * last renewed (every third of it while the delivery applies: lease.ts): past this, the claimant is taken to have
 * stopped (a process that ended, or a failed apply whose release did not reach the database), and a redelivery
 * applies it. Claims are timed on the database's clock, so replicas whose clocks disagree still agree on it.
 */
export const CLAIM_MS = 60_000;
/**
 * How long close() waits for deliveries under way to finish before it stops them between two events, and then for
 * those it stopped: 5 s in all, so that with the rest of a stop it stays within a pod's 30 s grace (docs/operations.md).
 */
const CLOSE_WAIT_MS = 3_000;
const STOP_WAIT_MS = 2_000;
/** What a SET did (its jti, an enable's time) is kept this long beyond the SET's accepted age. */
const KEEP_MARGIN_MS = 5 * 60_000;
/**
 * The pauses before the tries to mark an applied SET so after the first failed: 1 + 2 + 4 + 8 s, with each try's
 * deadline (CALL_MS) 40 s at most; the claim is renewed meanwhile (lease.ts), so no redelivery takes it over.
 */
const MARK_RETRY_MS = [1_000, 2_000, 4_000, 8_000];

/** A SET refused with an RFC 8935 error code (`err`); the caller's mistake, so invalid_argument in Verdict's error model. */
class Refused extends VerdictError {
  constructor(
    readonly err: SetErrorCode,
    message: string,
  ) {
    super("invalid_argument", message);
  }
}

interface Transmitter {
  config: TransmitterConfig;
  keys: JWTVerifyGetKey;
}

export interface SsfReceiverOptions {
  settings: SsfConfig;
  database: Database;
  /** The running suspensions (undefined while Verdict starts: deliveries get 503 and are retried). */
  suspensions: () => Suspensions | undefined;
  log: Logger;
  /** This process's clock (SETs' times are judged on it); tests give one, which then times the claims too. */
  now?: () => number;
  /** How long a claim holds another delivery off (default CLAIM_MS; tests shorten it). */
  claimMs?: number;
}

/** A JWKS file's keys, read and checked as an issuer's are (refused at start when unusable), for jose's jwtVerify. */
function fileKeys(path: string): JWTVerifyGetKey {
  const source = fileKeySource(path);
  return (header) => source.getKey(header);
}

export class SsfReceiver {
  private readonly byIssuer = new Map<string, Transmitter>();
  private readonly received: Collection<ReceivedSet>;
  private readonly resumes: ResumeMarks;
  private readonly log: Logger;
  private readonly now: () => number;
  /** The time claims are taken, renewed and compared at: the database's clock, which every replica agrees on. */
  private readonly claimNow: () => number;
  private readonly claimMs: number;
  /** The deliveries from their claim until answered, and the leases of those applying (close() waits for them). */
  private readonly underWay = new Set<Promise<unknown>>();
  private readonly leases = new Set<ClaimLease>();
  private closing = false;
  /** close() waited enough: every apply stops before its next event, one whose claim lands after this too. */
  private stopping = false;

  constructor(private readonly options: SsfReceiverOptions) {
    this.log = options.log.child({ component: "ssf" });
    this.now = options.now ?? Date.now;
    this.claimNow = options.now ?? (() => options.database.clock.now());
    this.claimMs = options.claimMs ?? CLAIM_MS;
    this.received = options.database.collection(RECEIVED);
    this.resumes = new ResumeMarks(options.database, this.keptMs());
    for (const config of options.settings.transmitters) {
      const keys = config.jwks_uri ? createRemoteJWKSet(new URL(config.jwks_uri)) : fileKeys(config.jwks_file as string);
      this.byIssuer.set(config.issuer, { config, keys });
    }
  }

  /** Whether any transmitter is configured (without one the route is not served). */
  get enabled(): boolean {
    return this.byIssuer.size > 0;
  }

  /**
   * Stops taking deliveries (they are answered 503, and delivered again to a replica that serves), and waits for
   * those under way: CLOSE_WAIT_MS, then each is stopped before its next event and lets go of its claim (its
   * transmitter delivers the SET again). Before the database closes, so that no claim is left held for CLAIM_MS.
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.underWay.size === 0) return;
    const all = () => Promise.allSettled(this.underWay).then(() => true);
    if (await withDeadline(all(), CLOSE_WAIT_MS, () => new Error("deliveries under way")).catch(() => false)) return;
    this.log.info({ underWay: this.underWay.size }, "stopping: the SET deliveries still under way stop before their next event");
    this.stopping = true;
    for (const lease of this.leases) lease.stop();
    // Each has its current event's writes and its release left, each under its deadline; one still under way keeps its claim until it lapses.
    if (!(await withDeadline(all(), STOP_WAIT_MS, () => new Error("deliveries under way")).catch(() => false)))
      this.log.warn({ underWay: this.underWay.size }, "stopped with SET deliveries still under way: their claims hold until they lapse");
  }

  /** One push delivery: the request's content type and body as sent. */
  async receive(contentType: string | undefined, body: string): Promise<Delivery> {
    let iss: string | undefined;
    let jti: string | undefined;
    try {
      if ((contentType ?? "").split(";")[0]?.trim().toLowerCase() !== "application/secevent+jwt") {
        throw new Refused("invalid_request", "the content type must be application/secevent+jwt");
      }
      const token = body.trim();
      if (token.length === 0 || token.length > MAX_SET_BYTES)
        throw new Refused("invalid_request", `the body must be one SET of at most ${MAX_SET_BYTES} bytes`);
      const transmitter = this.transmitterOf(token);
      iss = transmitter.config.issuer;
      const payload = await this.verify(token, transmitter);
      jti = payload.jti;
      const suspensions = this.options.suspensions();
      if (!suspensions) return unavailable("Verdict is starting; deliver again shortly");
      if (this.closing) return unavailable(STOPPING);
      // Counted from here (in the same turn as the look at closing): close() waits for it.
      const delivery = this.claimAndApply(transmitter, payload, suspensions, { iss, jti });
      this.underWay.add(delivery);
      try {
        return await delivery;
      } finally {
        this.underWay.delete(delivery);
      }
    } catch (error) {
      if (!(error instanceof Refused)) {
        this.log.error({ iss, jti, err: (error as Error).message }, "a SET delivery failed");
        return unavailable("the SET could not be recorded; deliver again");
      }
      this.log.warn({ iss, jti, err: error.err, why: error.message }, "SET refused");
      return { status: 400, body: { err: error.err, description: error.message } };
    }
  }

  private async claimAndApply(
    transmitter: Transmitter,
    payload: JWTPayload & { jti: string; iat: number },
    suspensions: Suspensions,
    logged: { iss: string; jti: string },
  ): Promise<Delivery> {
    const claim = await this.claim(transmitter, payload);
    if (claim === "applied") throw new Refused("invalid_request", "this SET (its jti) was already received");
    if (claim === "being_applied") return unavailable(BEING_APPLIED);
    const mine = { _id: receivedId(transmitter, payload), claim: claim.claim };
    const lease = new ClaimLease({
      claimMs: this.claimMs,
      now: this.claimNow,
      claimedAt: claim.at,
      renew: async (at) => {
        // $max: a renewal that lands after a later one never moves the claim back. Not only while unapplied: the
        // lease is renewed until the SET is recorded as applied, and a renewal may land just after that.
        const renewing = (options: { maxTimeMS: number }) => this.received.updateOne(mine, { $max: { claimed_at: at } }, options);
        return (await bounded("renew a SET's claim", renewing)).matchedCount === 1;
      },
      onTakenOver: () => this.log.warn(logged, "a SET's claim was taken over by another delivery while this one applied it: it stops before its next event"),
      onRenewalFailed: (error) => this.log.warn({ ...logged, err: (error as Error).message }, "a SET's claim could not be renewed; tried again"),
    });
    this.leases.add(lease);
    if (this.stopping) lease.stop();
    try {
      await this.apply(transmitter, payload, suspensions, lease);
    } catch (error) {
      await lease.end();
      // Another delivery applies it now: its claim is left alone (and what this one applied is applied again by it).
      if (error instanceof ClaimLost && error.why === "taken_over") return unavailable(BEING_APPLIED);
      // Not applied: the transmitter's retry must be accepted at once (and if this release is lost too, after
      // CLAIM_MS). Removed, not marked: a replica of the version before claims would refuse the retry as a replay.
      const releasing = (options: { maxTimeMS: number }) => this.received.deleteOne({ ...mine, applied: false }, options);
      await bounded("let go of a SET's claim", releasing).catch(() => undefined);
      if (error instanceof ClaimLost && error.why === "stopping") {
        this.log.info(logged, "Verdict is stopping: a SET was applied in part, and let go of; the transmitter should deliver it again");
        return unavailable(STOPPING);
      }
      if (error instanceof ClaimLost) {
        this.log.warn(logged, "a SET's claim went unrenewed for the claim's time: its apply stopped before its next event and let go of it");
        return unavailable("the suspensions database did not answer; deliver again");
      }
      this.log.error({ ...logged, err: (error as Error).message }, "a verified SET could not be applied; the transmitter should deliver it again");
      return unavailable("the suspensions database did not answer; deliver again");
    } finally {
      this.leases.delete(lease);
    }
    // Its events are suspensions: answered 202 even if the mark is late (a 503 would have them applied again). The
    // claim is renewed until the mark lands or its tries give up: a redelivery must not take it over meanwhile.
    await this.markApplied(mine, logged, lease);
    return { status: 202 };
  }

  /** The transmitter the SET says it is from (unverified until verify()). */
  private transmitterOf(token: string): Transmitter {
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch {
      throw new Refused("invalid_request", "the body is not a SET (a signed JWT)");
    }
    const transmitter = typeof claims.iss === "string" ? this.byIssuer.get(claims.iss) : undefined;
    if (!transmitter) throw new Refused("invalid_issuer", "the SET's iss is not a configured transmitter");
    return transmitter;
  }

  private async verify(token: string, { config, keys }: Transmitter): Promise<JWTPayload & { jti: string; iat: number }> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        typ: "secevent+jwt",
        algorithms: config.algorithms,
        requiredClaims: ["iat", "jti"],
        maxTokenAge: this.options.settings.max_age_seconds,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      throw refusal(error);
    }
    if (typeof payload.jti !== "string" || payload.jti.length === 0 || payload.jti.length > 256)
      throw new Refused("invalid_request", "the SET's jti must be a string");
    const events = payload["events"];
    if (typeof events !== "object" || events === null || Array.isArray(events) || Object.keys(events).length === 0) {
      throw new Refused("invalid_request", "the SET has no events claim (an object of event types)");
    }
    // RFC 8417 §3: a SET is not an access token; one that carries sub for that use is refused elsewhere, and here any exp was checked.
    return payload as JWTPayload & { jti: string; iat: number };
  }

  /**
   * How long after its iat what a SET did is remembered: as long as jose accepts it (max_age_seconds, the clock
   * tolerance, and the second its whole-second comparison adds), and a margin for clocks (the TTL sweep runs on
   * the database's and every replica's).
   */
  private keptMs(): number {
    return (this.options.settings.max_age_seconds + CLOCK_TOLERANCE_SECONDS + 1) * 1_000 + KEEP_MARGIN_MS;
  }

  /**
   * Records the jti as this delivery's to apply (a claim of its own): the first delivery, or one after a claim
   * not renewed for CLAIM_MS (its claimant stopped, or neither its apply nor its release reached the database: the
   * SET was never applied, and the transmitter's retry must not be refused as a replay). "applied" when it was
   * applied before (within max_age_seconds), "being_applied" while another delivery holds it. A claim that
   * lands after its deadline (this delivery answered 503) is let go of at once.
   */
  private async claim(transmitter: Transmitter, payload: JWTPayload & { jti: string; iat: number }): Promise<Claim> {
    const _id = receivedId(transmitter, payload);
    const now = this.claimNow();
    const claim = randomUUID();
    const keepUntil = payload.iat * 1_000 + this.keptMs();
    const letGo = () => this.letGoLate({ _id, claim });
    try {
      const doc = { _id, expires_at: new Date(Math.max(keepUntil, now + this.claimMs)), applied: false, claimed_at: new Date(now), claim };
      await bounded("claim a SET", (options) => this.received.insertOne(doc, options), letGo);
      return { claim, at: now };
    } catch (error) {
      if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
    }
    const taken = await bounded(
      "take over a SET's claim",
      (options) =>
        this.received.findOneAndUpdate(
          { _id, applied: false, claimed_at: { $lte: new Date(now - this.claimMs) } },
          { $set: { claimed_at: new Date(now), claim } },
          options,
        ),
      (late) => {
        if (late) letGo();
      },
    );
    if (taken) return { claim, at: now };
    const kept = await bounded("read a SET's claim", (options) => this.received.findOne({ _id }, options));
    return kept?.applied === false ? "being_applied" : "applied";
  }

  /** Lets go of a claim that landed after its delivery had answered 503 (in the background: closing the database waits for it). */
  private letGoLate(mine: { _id: string; claim: string }): void {
    const releasing = bounded("let go of a SET's claim taken too late", (options) => this.received.deleteOne({ ...mine, applied: false }, options));
    this.options.database.finishBeforeClose(
      releasing.catch((error: unknown) =>
        this.log.warn(
          { err: (error as Error).message },
          "a SET's claim taken after its delivery answered 503 could not be let go of: it holds until it lapses",
        ),
      ),
    );
  }

  /**
   * Marks the SET this delivery applied so (a replay is then refused), under its own claim; when the database
   * does not take it, tried again in the background within CLAIM_MS, so that no other delivery takes the claim
   * over and applies the SET again (a replayed account-disabled would undo a later account-enabled). The claim
   * stays on the mark, so that a try that landed after its deadline is found by the next.
   */
  private async markApplied(mine: { _id: string; claim: string }, logged: { iss?: string; jti?: string }, lease: ClaimLease): Promise<void> {
    const once = async () => {
      const marking = (options: { maxTimeMS: number }) => this.received.updateOne(mine, { $set: { applied: true }, $unset: { claimed_at: "" } }, options);
      const { matchedCount } = await bounded("record a SET as applied", marking);
      if (matchedCount === 0) this.log.warn(logged, "a SET was applied, but its claim was taken over before it was recorded as applied");
    };
    try {
      await once();
      await lease.end();
    } catch {
      this.options.database.finishBeforeClose(this.markLater(once, logged).finally(() => lease.end()));
    }
  }

  private async markLater(once: () => Promise<void>, logged: { iss?: string; jti?: string }): Promise<void> {
    let failure: unknown;
    for (const pauseMs of MARK_RETRY_MS) {
      await pause(pauseMs);
      try {
        await once();
        this.log.info(logged, "an applied SET is recorded as applied, after a try that failed");
        return;
      } catch (error) {
        failure = error;
      }
    }
    this.log.error(
      { ...logged, err: (failure as Error).message },
      "a SET was applied, but could not be recorded as applied; a delivery of it after its claim ends would apply it again",
    );
  }

  private async apply({ config }: Transmitter, payload: JWTPayload & { jti: string; iat: number }, suspensions: Suspensions, lease: ClaimLease): Promise<void> {
    const events = payload["events"] as Record<string, unknown>;
    for (const [type, event] of Object.entries(events)) {
      lease.check();
      const known = EVENT_EFFECTS[type];
      if (!known) {
        this.log.info({ iss: config.issuer, jti: payload.jti, type }, "SET event type not acted on; acknowledged");
        continue;
      }
      const body = typeof event === "object" && event !== null ? (event as Record<string, unknown>) : {};
      const target = targetOf(payload["sub_id"] ?? body["subject"], config.token_issuer);
      if (!target) {
        this.log.warn(
          { iss: config.issuer, jti: payload.jti, type },
          "SET event names no subject Verdict can match to tokens (iss_sub, opaque or a session); acknowledged",
        );
        continue;
      }
      const source = `ssf:${config.name}:${known.name}`;
      const by = { via: "ssf" as const, issuer: config.issuer };
      const details = { event: type, set_jti: payload.jti, transmitter: config.name };
      const why = typeof body["reason_admin"] === "object" && body["reason_admin"] !== null ? JSON.stringify(body["reason_admin"]).slice(0, 500) : "";
      const reason = `${known.name} from ${config.name}${why ? `: ${why}` : ""}`;
      const at = typeof body["event_timestamp"] === "number" ? body["event_timestamp"] : payload.iat;
      // The event's time orders the transmitter's events (a redelivered SET arrives late); never later than now,
      // so that a transmitter's clock running ahead cannot put a suspension out of reach of its later events.
      const eventAt = Math.min(at * 1_000, this.now());
      if (known.effect === "resume") {
        // Marked first: a disable applied meanwhile, of before this enable, finds it after its own write (below).
        await this.resumes.mark(config.name, target, eventAt, this.now());
        // What an event later than this one suspended is kept (Suspensions logs it): an older enable changes nothing.
        await suspensions.remove({ target, sources: RESUMED_BY_ENABLE.map((name) => `ssf:${config.name}:${name}`), eventAt, by, reason, details });
      } else if (known.effect === "suspend") {
        // Only what an enable lifts is held against one (account-purged is not).
        const resumedAt = () => (RESUMED_BY_ENABLE.includes(known.name) ? this.resumes.resumedAt(config.name, target) : Promise.resolve(undefined));
        const undone = await resumedAt();
        if (undone !== undefined && undone >= eventAt) {
          this.log.info(
            { ...details, iss: config.issuer, eventAt: new Date(eventAt).toISOString(), resumedAt: new Date(undone).toISOString() },
            "not suspended: the transmitter re-enabled the account after this event",
          );
          continue;
        }
        await suspensions.add({ target, reason, by, source, details, eventAt });
        // An enable of after this event, applied meanwhile by another delivery, removed nothing yet to remove: it is undone here.
        const since = await resumedAt();
        if (since !== undefined && since >= eventAt) {
          const resumed = `account-enabled from ${config.name}, of after this event`;
          await suspensions.remove({ target, sources: [source], eventAt: since, by, reason: resumed, details });
        }
      } else {
        // A revocation: the session is over; a user's tokens issued before the event are.
        const seconds = this.options.settings.revocation_seconds;
        await suspensions.add({
          target,
          reason,
          by,
          source,
          details,
          seconds,
          eventAt,
          ...(target.kind === "user" ? { issuedBefore: eventAt + 1_000 } : {}),
        });
      }
    }
  }
}

function receivedId({ config }: Transmitter, payload: JWTPayload & { jti: string }): string {
  return `${config.name}\n${payload.jti}`;
}

const BEING_APPLIED = "this SET is being applied by another delivery; deliver again if it fails";
const STOPPING = "Verdict is stopping; deliver again";

function unavailable(description: string): Delivery {
  return { status: 503, body: { err: "temporarily_unavailable", description } };
}

/** jose's verification failures as RFC 8935 codes. */
function refusal(error: unknown): Refused {
  const message = error instanceof Error ? error.message : String(error);
  // JWTExpired is a JWTClaimValidationFailed: first. It is also what a too-old iat (max_age_seconds) throws.
  if (error instanceof joseErrors.JWTExpired) return new Refused("invalid_request", error.claim === "iat" ? "the SET is too old" : "the SET has expired");
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === "aud") return new Refused("invalid_audience", "the SET's aud is not this receiver");
    if (error.claim === "iss") return new Refused("invalid_issuer", "the SET's iss is not a configured transmitter");
    if (error.claim === "typ") return new Refused("invalid_request", "the SET's typ header must be secevent+jwt");
    return new Refused("invalid_request", `the SET's ${error.claim} claim is not acceptable: ${error.reason === "check_failed" ? message : error.reason}`);
  }
  if (
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JWKSNoMatchingKey ||
    error instanceof joseErrors.JOSEAlgNotAllowed
  ) {
    return new Refused("invalid_key", "the SET's signature does not verify with the transmitter's keys");
  }
  if (error instanceof joseErrors.JWKSMultipleMatchingKeys) return new Refused("invalid_key", "the SET's key id is ambiguous in the transmitter's keys");
  return new Refused("invalid_request", "the SET is malformed");
}
