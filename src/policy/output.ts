// What `verdict/decision` must return, checked before Verdict acts on it. A result
// that does not fit is a PolicyError (DENY policy_error), never an allow.
import { VerdictError } from "../errors/index.js";
import type { Reason } from "../reasons/index.js";

export type Effect = "allow" | "deny" | "step_up";

/** Calendar windows (UTC), or sliding windows of N seconds. */
export type WindowSpec = { kind: "calendar"; unit: "minute" | "hour" | "day" } | { kind: "sliding"; seconds: number };

/** What happens to the decision when an obligation cannot be met. */
export type ObligationFailure = { effect: "deny" } | { effect: "step_up"; stepUp: StepUp };

interface ObligationBase {
  key: string[];
  /** The reason reported when the obligation cannot be met. */
  reason: Reason;
  onFailure: ObligationFailure;
}

/** Add `amount` to the windowed counter `key` only if its total stays within `limit`. */
export interface ReserveRequest extends ObligationBase {
  type: "reserve";
  amount: number;
  limit: number;
  window: WindowSpec;
}

/** Count one request in the window; at most `limit` per window. */
export interface RateRequest extends ObligationBase {
  type: "rate";
  limit: number;
  window: WindowSpec;
}

/** Consume `key` (e.g. a token's jti); a second use before `expiresAt` fails. */
export interface OnceRequest extends ObligationBase {
  type: "once";
  /** Seconds since the epoch. */
  expiresAt: number;
}

export type ObligationRequest = ReserveRequest | RateRequest | OnceRequest;

/** A real-time value a decision needs, read before verdict/decision runs. */
export interface StateQuery {
  /** The name under input.state. */
  name: string;
  /** The total of the windowed counter `key` (what reserve and rate obligations add to). */
  type: "counter";
  key: string[];
  window: WindowSpec;
}

export interface StepUp {
  acrValues: string[];
  maxAge?: number;
}

/** One rule that fired, as the policy reports it (opa-wasm has no trace of its own). */
export interface RuleHit {
  kind: "deny" | "step_up" | "obligation";
  /** e.g. "transactions.per_transaction": the module and rule that produced it. */
  rule: string;
  code: string;
  message: string;
}

export interface PolicyDecision {
  effect: Effect;
  reasons: Reason[];
  requiredScopes: string[];
  stepUp?: StepUp;
  obligations: ObligationRequest[];
  /** The rules that fired, whatever the effect; empty when the policy reports none. */
  explain: RuleHit[];
}

export class PolicyError extends VerdictError {
  constructor(message: string) {
    super("policy_error", message);
  }
}

const CODE = /^[a-z][a-z0-9_]{0,63}$/;
const RULE = /^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$/;
const MAX_EXPLAIN = 256;
const KEY_PART = /^[^\u0000-\u001f\u007f]{1,256}$/;
const MAX_KEY_PARTS = 8;
const MAX_STATE_QUERIES = 16;
/** Sliding windows keep one entry per request, so they are bounded to a day. */
const MAX_SLIDING_SECONDS = 86_400;

export function parseDecision(raw: unknown): PolicyDecision {
  const value = object(raw, "decision");
  const effect = value["effect"];
  if (effect !== "allow" && effect !== "deny" && effect !== "step_up") {
    throw new PolicyError("decision.effect must be allow, deny or step_up");
  }
  const reasons = list(value["reasons"] ?? [], "decision.reasons").map((item, i) => parseReason(item, `decision.reasons[${i}]`));
  if (effect !== "allow" && reasons.length === 0) throw new PolicyError(`a ${effect} decision needs at least one reason`);
  const requiredScopes = list(value["required_scopes"] ?? [], "decision.required_scopes").map((item, i) =>
    scopeString(item, `decision.required_scopes[${i}]`),
  );
  const decision: PolicyDecision = {
    effect,
    reasons,
    requiredScopes,
    obligations: list(value["obligations"] ?? [], "decision.obligations").map((item, i) => parseObligation(item, `decision.obligations[${i}]`)),
    explain: parseExplain(value["explain"] ?? [], "decision.explain"),
  };
  if (effect === "step_up") {
    decision.stepUp = parseStepUp(value["step_up"], "decision.step_up");
  }
  return decision;
}

function parseReason(raw: unknown, where: string): Reason {
  const value = object(raw, where);
  const code = value["code"];
  const message = value["message"];
  if (typeof code !== "string" || !CODE.test(code)) throw new PolicyError(`${where}.code must be a snake_case code`);
  if (message !== undefined && typeof message !== "string") throw new PolicyError(`${where}.message must be a string`);
  return { code, message: (message as string | undefined) ?? code.replaceAll("_", " ") };
}

function parseExplain(raw: unknown, where: string): RuleHit[] {
  const items = list(raw, where);
  if (items.length > MAX_EXPLAIN) throw new PolicyError(`${where} has more than ${MAX_EXPLAIN} entries`);
  return items.map((item, i) => {
    const value = object(item, `${where}[${i}]`);
    const kind = value["kind"];
    if (kind !== "deny" && kind !== "step_up" && kind !== "obligation") throw new PolicyError(`${where}[${i}].kind must be deny, step_up or obligation`);
    const rule = value["rule"];
    if (typeof rule !== "string" || !RULE.test(rule)) throw new PolicyError(`${where}[${i}].rule must name a rule, e.g. transactions.per_transaction`);
    const code = value["code"];
    const message = value["message"];
    if (typeof code !== "string" || !CODE.test(code)) throw new PolicyError(`${where}[${i}].code must be a snake_case code`);
    if (message !== undefined && typeof message !== "string") throw new PolicyError(`${where}[${i}].message must be a string`);
    return { kind, rule, code, message: (message as string | undefined) ?? "" };
  });
}

function parseStepUp(raw: unknown, where: string): StepUp {
  const value = object(raw, where);
  const acrValues = list(value["acr_values"], `${where}.acr_values`).map((item, i) => scopeString(item, `${where}.acr_values[${i}]`));
  if (acrValues.length === 0) throw new PolicyError(`${where}.acr_values must name at least one acr`);
  const maxAge = value["max_age"];
  if (maxAge !== undefined && (typeof maxAge !== "number" || !Number.isInteger(maxAge) || maxAge < 0)) {
    throw new PolicyError(`${where}.max_age must be a whole number of seconds`);
  }
  return { acrValues, ...(maxAge !== undefined ? { maxAge: maxAge as number } : {}) };
}

const DEFAULT_FAILURE_REASONS: Record<ObligationRequest["type"], Reason> = {
  reserve: { code: "limit_exceeded", message: "The request would exceed a limit." },
  rate: { code: "rate_limited", message: "Too many requests in the window." },
  once: { code: "token_replayed", message: "This single-use key was already used." },
};

function parseObligation(raw: unknown, where: string): ObligationRequest {
  const value = object(raw, where);
  const type = value["type"];
  if (type !== "reserve" && type !== "rate" && type !== "once") throw new PolicyError(`${where}.type must be reserve, rate or once`);
  const base: ObligationBase = {
    key: parseKey(value["key"], `${where}.key`),
    reason: value["reason"] !== undefined ? parseReason(value["reason"], `${where}.reason`) : DEFAULT_FAILURE_REASONS[type],
    onFailure: parseFailure(value["on_failure"], value["step_up"], where),
  };
  switch (type) {
    case "reserve":
      return {
        type,
        ...base,
        amount: positiveNumber(value["amount"], `${where}.amount`),
        limit: positiveNumber(value["limit"], `${where}.limit`),
        window: parseWindow(value["window"], `${where}.window`),
      };
    case "rate":
      return { type, ...base, limit: positiveInteger(value["limit"], `${where}.limit`), window: parseWindow(value["window"], `${where}.window`) };
    case "once":
      return { type, ...base, expiresAt: positiveNumber(value["expires_at"], `${where}.expires_at`) };
  }
}

function parseFailure(raw: unknown, stepUp: unknown, where: string): ObligationFailure {
  if (raw === undefined || raw === "deny") return { effect: "deny" };
  if (raw === "step_up") return { effect: "step_up", stepUp: parseStepUp(stepUp, `${where}.step_up`) };
  throw new PolicyError(`${where}.on_failure must be deny or step_up`);
}

/** The window as policies name it ("day", "sliding:60"). */
export function windowLabel(window: WindowSpec): string {
  return window.kind === "sliding" ? `sliding:${window.seconds}` : window.unit;
}

/** An obligation as plain JSON, in the policy's own terms (for explain output and shadow comparisons). */
export function describeObligation(o: ObligationRequest): Record<string, unknown> {
  switch (o.type) {
    case "reserve":
      return { type: o.type, key: o.key, amount: o.amount, limit: o.limit, window: windowLabel(o.window) };
    case "rate":
      return { type: o.type, key: o.key, limit: o.limit, window: windowLabel(o.window) };
    case "once":
      return { type: o.type, key: o.key, expires_at: o.expiresAt };
  }
}

/** verdict/state_queries: a list of named queries (an empty list costs no database call). */
export function parseStateQueries(raw: unknown): StateQuery[] {
  const items = list(raw ?? [], "state_queries");
  if (items.length > MAX_STATE_QUERIES) throw new PolicyError(`state_queries has more than ${MAX_STATE_QUERIES} entries`);
  const names = new Set<string>();
  return items.map((item, i) => {
    const where = `state_queries[${i}]`;
    const value = object(item, where);
    const name = value["name"];
    if (typeof name !== "string" || !/^[a-z][a-z0-9_]{0,63}$/.test(name)) throw new PolicyError(`${where}.name must be a snake_case name`);
    if (names.has(name)) throw new PolicyError(`${where}.name ${name} is used twice`);
    names.add(name);
    if (value["type"] !== "counter") throw new PolicyError(`${where}.type must be counter`);
    return { name, type: "counter", key: parseKey(value["key"], `${where}.key`), window: parseWindow(value["window"], `${where}.window`) };
  });
}

/** A key is a short list of plain strings; it is stored as a value, never as a field name or operator. */
function parseKey(raw: unknown, where: string): string[] {
  const parts = list(raw, where);
  if (parts.length === 0 || parts.length > MAX_KEY_PARTS) throw new PolicyError(`${where} must have 1 to ${MAX_KEY_PARTS} parts`);
  return parts.map((part, i) => {
    if (typeof part === "number" && Number.isFinite(part)) return String(part);
    if (typeof part !== "string" || !KEY_PART.test(part)) throw new PolicyError(`${where}[${i}] must be a non-empty string without control characters`);
    return part;
  });
}

export function parseWindow(raw: unknown, where: string): WindowSpec {
  if (raw === "minute" || raw === "hour" || raw === "day") return { kind: "calendar", unit: raw };
  if (typeof raw === "string") {
    const match = /^sliding:(\d{1,7})$/.exec(raw);
    const seconds = match ? Number(match[1]) : 0;
    if (seconds >= 1 && seconds <= MAX_SLIDING_SECONDS) return { kind: "sliding", seconds };
  }
  throw new PolicyError(`${where} must be minute, hour, day or sliding:<seconds> (at most ${MAX_SLIDING_SECONDS})`);
}

function object(raw: unknown, where: string): Record<string, unknown> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new PolicyError(`${where} must be an object`);
  return raw as Record<string, unknown>;
}

function list(raw: unknown, where: string): unknown[] {
  if (!Array.isArray(raw)) throw new PolicyError(`${where} must be an array`);
  return raw;
}

function scopeString(raw: unknown, where: string): string {
  if (typeof raw !== "string" || !/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/.test(raw)) throw new PolicyError(`${where} must be a scope-token string`);
  return raw;
}

function positiveInteger(raw: unknown, where: string): number {
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw <= 0) throw new PolicyError(`${where} must be a positive whole number`);
  return raw;
}

function positiveNumber(raw: unknown, where: string): number {
  if (typeof raw !== "number" || !Number.isFinite(raw) || raw <= 0) throw new PolicyError(`${where} must be a positive number`);
  return raw;
}
