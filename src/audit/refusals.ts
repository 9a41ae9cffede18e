// Refused tokens are counted, not recorded one by one: a flood of forged or expired
// tokens would otherwise cost one database write each. Within a window (10 s), the
// refusals of one API for one reason with one token (by its SHA-256) become one
// record: the first refusal's, with how many there were (`count`) and when the last
// was (`last_time`). At most MAX_TOKENS distinct tokens are kept apart per window;
// beyond that, an API's refusals for a reason are counted together, with how many
// distinct tokens they had (`distinct_tokens`). A token refused before its signature
// verified (forged, malformed, from an unknown issuer: UNVERIFIED_REFUSALS) is
// counted together from the first: anyone can make one, so its hash names nothing
// an issuer issued, and the record keeps the first one's hash with
// `distinct_tokens`. So a record still says who (the API, the token's hash), what
// (the action, the reason), when (the window) and how many, and the trail grows by
// a bounded number of records per window whatever the flood. Distinct tokens are
// told apart up to MAX_DISTINCT_COUNTED per record and window (the memory a flood of
// distinct forged tokens may hold); a record at that figure had at least that many.
//
// A request refused only because the state database was unavailable (DENY
// state_unavailable, nothing applied) is counted the same way, per API, token and
// request (action, resource, dry run): while the database is silent such refusals
// are answered at once, so a caller retrying without pause would otherwise cost a
// record per retry, spilled to disk while the database is down. Its record keeps the
// principal; one refused once is an ordinary record (no `count`); at most
// MAX_REQUESTS such requests are told apart per window, the rest recorded one by one
// (never counted together: that would lose who asked).
import { UNVERIFIED_REFUSALS } from "../token/index.js";
import type { DecisionRecord } from "./record.js";

/** How long refusals are counted before their records are written. */
export const REFUSAL_WINDOW_MS = 10_000;
/** Distinct tokens kept apart per window; the rest are counted per API and reason. */
export const MAX_TOKENS = 100;
/** Distinct requests refused for unavailable state counted per window; the rest are recorded one by one. */
export const MAX_REQUESTS = 1_000;
/** A record counted together tells apart at most this many distinct tokens (about 1 MB of hashes); `distinct_tokens` stops there. */
export const MAX_DISTINCT_COUNTED = 10_000;

interface Tally {
  record: DecisionRecord;
  count: number;
  last: Date;
  /** Counted together (beyond MAX_TOKENS): the distinct tokens. */
  tokens?: Set<string>;
  /** A request refused for unavailable state: refused once, it is an ordinary record. */
  request?: true;
}

/**
 * What identifies identical refusals: the API, the reason, the token's SHA-256 ("" for
 * none), and for a verified principal's request refused for unavailable state, the request.
 */
export interface RefusalKey {
  api: string;
  reason: string;
  sha256: string;
  request?: string;
}

function keyOf({ api, reason, sha256, request }: RefusalKey): string {
  const token = isUnverified(reason) ? "*" : sha256;
  return request === undefined ? `${api}\u0000${reason}\u0000${token}` : `${api}\u0000${reason}\u0000${token}\u0000${request}`;
}

export class RefusalTally {
  private tallies = new Map<string, Tally>();
  private distinct = 0;
  private requests = 0;

  /**
   * Counts one more of a refusal already in this window's tally, without its record
   * (a flood costs no record building): false when it is the first, whose record
   * add() then takes.
   */
  repeat(refusal: RefusalKey, at: Date): boolean {
    const same = this.tallies.get(keyOf(refusal));
    if (!same) return false;
    same.count += 1;
    same.last = at;
    remember(same, refusal.sha256);
    return true;
  }

  /** Counts a refusal's record (`refusal` its key) in this window; false when it is not counted and is to be recorded alone. */
  add(record: DecisionRecord, refusal: RefusalKey): boolean {
    const { sha256: sha, reason } = refusal;
    const together = keyOf({ api: refusal.api, reason, sha256: "*" });
    if (isUnverified(reason)) {
      // Counted together from the first, which keeps its token's hash.
      this.together(together, record, sha, record);
      return true;
    }
    const key = keyOf(refusal);
    const same = this.tallies.get(key);
    if (same) {
      same.count += 1;
      same.last = record.time;
      return true;
    }
    if (refusal.request !== undefined) {
      if (this.requests >= MAX_REQUESTS) return false;
      this.requests += 1;
      this.tallies.set(key, { record, count: 1, last: record.time, request: true });
      return true;
    }
    if (this.distinct < MAX_TOKENS) {
      this.distinct += 1;
      this.tallies.set(key, { record, count: 1, last: record.time });
      return true;
    }
    this.together(together, record, sha, { ...record, token: {} });
    return true;
  }

  /** Counts a refusal in the tally of its API and reason, begun with `first` when there is none. */
  private together(key: string, record: DecisionRecord, sha: string, first: DecisionRecord): void {
    const tally = this.tallies.get(key);
    if (tally) {
      tally.count += 1;
      tally.last = record.time;
      remember(tally, sha);
    } else {
      this.tallies.set(key, { record: first, count: 1, last: record.time, tokens: new Set([sha]) });
    }
  }

  get size(): number {
    return this.tallies.size;
  }

  /** The window's records (one per tally), and a fresh window. */
  take(): DecisionRecord[] {
    const records = [...this.tallies.values()].map(({ record, count, last, tokens, request }) =>
      request && count === 1
        ? record
        : {
            ...record,
            count,
            last_time: last,
            ...(tokens ? { distinct_tokens: tokens.size } : {}),
          },
    );
    this.tallies = new Map();
    this.distinct = 0;
    this.requests = 0;
    return records;
  }
}

/** Tells one more token apart in a tally counted together, up to MAX_DISTINCT_COUNTED. */
function remember(tally: Tally, sha: string): void {
  if (tally.tokens && tally.tokens.size < MAX_DISTINCT_COUNTED) tally.tokens.add(sha);
}

function isUnverified(reason: string): boolean {
  return (UNVERIFIED_REFUSALS as ReadonlySet<string>).has(reason);
}
