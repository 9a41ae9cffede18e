// An issuer's JWKS fetched over HTTP(S) and cached.
//
// - Fresh for the response's Cache-Control max-age (bounded), else refreshMs.
// - Stale keys stay usable for staleGraceMs, answering at once while they are refetched
//   beside them; after that, verification waits for the refetch and fails with
//   issuer_unavailable when the issuer cannot be reached.
// - A token naming an unknown kid, or one whose signature its kid's key does not verify
//   (an issuer that gave the kid to a new key), triggers a refetch: at most one per
//   cooldownMs for both together, and concurrent refetches share one request, so
//   attackers cannot amplify fetches.
// - Only the configured URL is ever fetched (never a token's jku/x5u).
// - A refetch that brings a different key set moves the generation, which is how the
//   verified-token cache learns that a key may have been removed, and the memory of
//   refused tokens that a bad signature's refusal no longer stands (generation() also
//   starts the refetch of stale keys, so a hot path served from that cache still refreshes).
//   Keys past their stale grace have no generation: a cached token is verified again,
//   and refused issuer_unavailable as an uncached one is while the issuer is unreachable.
// - These times are kept on the monotonic clock: on the wall clock, a step back (an NTP
//   correction) kept keys the issuer had removed fresh, and held back the refetch of a
//   rotation (new keys refused), for the size of the step.
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWSHeaderParameters } from "jose";
import { TokenError } from "../errors.js";
import type { KeySource } from "./source.js";

export interface RemoteJwksOptions {
  refreshMs: number;
  staleGraceMs: number;
  cooldownMs: number;
  timeoutMs: number;
  /** Bounds on a max-age from Cache-Control. */
  minMaxAgeMs?: number;
  maxMaxAgeMs?: number;
  /** The clock the times above are measured on (milliseconds; default performance.now()). */
  now?: () => number;
  onEvent?: (event: JwksEvent) => void;
}

export type JwksEvent =
  | { type: "fetched"; uri: string; keys: number; freshForMs: number }
  | { type: "fetch_failed"; uri: string; error: string }
  | { type: "serving_stale"; uri: string; staleForMs: number };

type Selector = ReturnType<typeof createLocalJWKSet>;

/** The generation of keys past their stale grace: no key set's (those count from 0), so no cached token's. */
const PAST_GRACE = -1;

interface Snapshot {
  select: Selector;
  fetchedAt: number;
  freshUntil: number;
  /** The keys as served, to tell whether a refetch brought a different set. */
  keys: string;
  generation: number;
}

export class RemoteJwks implements KeySource {
  private snapshot: Snapshot | undefined;
  private inflight: Promise<Snapshot> | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  /** The last fetch failed: stale keys are served because the issuer cannot be reached, not only while a refetch runs. */
  private failing = false;
  private readonly now: () => number;

  constructor(
    readonly uri: string,
    private readonly options: RemoteJwksOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  /** How many HTTP requests this source has made (for tests and metrics). */
  fetches = 0;

  generation(): number {
    const now = this.now();
    this.refetchIfStale(now);
    const snapshot = this.snapshot;
    if (!snapshot) return 0;
    // Past their stale grace the keys held are no one's current keys: a cached token is then verified from scratch,
    // which waits for the refetch (issuer_unavailable when the issuer cannot be reached), as an uncached one is.
    return this.pastGrace(snapshot, now) ? PAST_GRACE : snapshot.generation;
  }

  async currentKey(header: JWSHeaderParameters) {
    const snapshot = this.snapshot;
    if (!snapshot || this.pastGrace(snapshot, this.now())) return undefined;
    return selectIfAny(snapshot, header);
  }

  async getKey(header: JWSHeaderParameters) {
    const snapshot = await this.current();
    try {
      return await snapshot.select(header);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      // An unknown kid may mean the issuer rotated keys: refetch, at most once per cooldown.
      const refreshed = await this.refetchOnDemand();
      if (!refreshed) throw error;
      return refreshed.select(header);
    }
  }

  async newerKey(header: JWSHeaderParameters, generation: number) {
    let snapshot = this.snapshot;
    if (snapshot?.generation === generation) {
      // The issuer may have given the kid to a new key: refetch, on the unknown kid's budget (one per cooldown).
      snapshot = await this.refetchOnDemand();
      if (snapshot?.generation === generation) return undefined;
    }
    if (!snapshot || this.pastGrace(snapshot, this.now())) return undefined;
    return selectIfAny(snapshot, header);
  }

  private async current(): Promise<Snapshot> {
    const snapshot = this.snapshot;
    const now = this.now();
    if (snapshot && now < snapshot.freshUntil) return snapshot;
    if (snapshot && !this.pastGrace(snapshot, now)) {
      // Stale keys within the grace answer now, and the refetch runs beside them: an issuer that
      // hangs would otherwise hold every Check for timeoutMs, once per cooldown.
      this.refetchIfStale(now);
      if (this.failing) this.options.onEvent?.({ type: "serving_stale", uri: this.uri, staleForMs: now - snapshot.freshUntil });
      return snapshot;
    }
    try {
      // A refetch under way (started beside a cache hit, say) is waited for rather than refused as cooling down.
      if (snapshot && !this.inflight && now - this.lastAttemptAt < this.options.cooldownMs) throw new Error("refetch cooling down");
      return await this.refresh();
    } catch (error) {
      throw new TokenError("issuer_unavailable", `The issuer's keys could not be fetched (${(error as Error).message}).`);
    }
  }

  private pastGrace(snapshot: Snapshot, now: number): boolean {
    return now >= snapshot.freshUntil + this.options.staleGraceMs;
  }

  /** Starts a refetch beside the keys held when they are stale, at most once per cooldown; never waits for it. */
  private refetchIfStale(now: number): void {
    const snapshot = this.snapshot;
    if (!snapshot || now < snapshot.freshUntil || now - this.lastAttemptAt < this.options.cooldownMs) return;
    this.refresh().catch(() => undefined);
  }

  /** A refetch a token asks for (a kid unknown, or whose key does not verify it): at most one per cooldown; undefined when cooling down or failed. */
  private async refetchOnDemand(): Promise<Snapshot | undefined> {
    // One under way (another token's, or a stale set's) is waited for: within its cooldown, a token that came while
    // it ran would otherwise be refused though the fetch may bring its key.
    if (this.inflight) return this.inflight.catch(() => undefined);
    if (this.now() - this.lastAttemptAt < this.options.cooldownMs) return undefined;
    return this.refresh().catch(() => undefined);
  }

  private refresh(): Promise<Snapshot> {
    this.inflight ??= this.fetchOnce().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchOnce(): Promise<Snapshot> {
    this.lastAttemptAt = this.now();
    this.fetches += 1;
    try {
      const response = await fetch(this.uri, {
        headers: { accept: "application/jwk-set+json, application/json" },
        redirect: "error",
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as JSONWebKeySet;
      if (!body || !Array.isArray(body.keys)) throw new Error('the response has no "keys" array');
      const freshForMs = this.freshFor(response.headers.get("cache-control"));
      const fetchedAt = this.now();
      const keys = JSON.stringify(body.keys);
      const previous = this.snapshot;
      const generation = !previous ? 0 : previous.keys === keys ? previous.generation : previous.generation + 1;
      const snapshot = { select: createLocalJWKSet(body), fetchedAt, freshUntil: fetchedAt + freshForMs, keys, generation };
      this.snapshot = snapshot;
      this.failing = false;
      this.options.onEvent?.({ type: "fetched", uri: this.uri, keys: body.keys.length, freshForMs });
      return snapshot;
    } catch (error) {
      this.failing = true;
      this.options.onEvent?.({ type: "fetch_failed", uri: this.uri, error: (error as Error).message });
      throw error;
    }
  }

  private freshFor(cacheControl: string | null): number {
    const match = cacheControl ? /(?:^|,)\s*max-age=(\d+)/i.exec(cacheControl) : null;
    if (!match || /no-store|no-cache/i.test(cacheControl ?? "")) return this.options.refreshMs;
    const min = this.options.minMaxAgeMs ?? 60_000;
    const max = this.options.maxMaxAgeMs ?? 24 * 3_600_000;
    return Math.min(max, Math.max(min, Number(match[1]) * 1000));
  }
}

/** The key for this header in the snapshot's set; undefined when the set has none. */
async function selectIfAny(snapshot: Snapshot, header: JWSHeaderParameters) {
  try {
    return await snapshot.select(header);
  } catch (error) {
    if (error instanceof joseErrors.JWKSNoMatchingKey) return undefined;
    throw error;
  }
}
