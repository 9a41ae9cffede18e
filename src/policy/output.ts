// What `verdict/decision` must return, checked before Verdict acts on it. A result
// that does not fit is a PolicyError (DENY policy_error), never an allow.
import type { Reason } from "../reasons/index.js";

export type Effect = "allow" | "deny" | "step_up";

/** Calendar windows, in UTC. */
export type WindowSpec = { kind: "calendar"; unit: "minute" | "hour" | "day" };

export interface ReserveRequest {
  type: "reserve";
  key: string[];
  amount: number;
  limit: number;
  window: WindowSpec;
  /** The reason reported when the reservation does not fit. */
  reason: Reason;
}

export type ObligationRequest = ReserveRequest;

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

export class PolicyError extends Error {
  readonly code = "policy_error";
  constructor(message: string) {
    super(message);
    this.name = "PolicyError";
  }
}

const CODE = /^[a-z][a-z0-9_]{0,63}$/;
const RULE = /^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$/;
const MAX_EXPLAIN = 256;
const KEY_PART = /^[^\u0000-\u001f\u007f]{1,256}$/;
const MAX_KEY_PARTS = 8;

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

function parseObligation(raw: unknown, where: string): ObligationRequest {
  const value = object(raw, where);
  switch (value["type"]) {
    case "reserve": {
      const amount = positiveNumber(value["amount"], `${where}.amount`);
      const limit = positiveNumber(value["limit"], `${where}.limit`);
      return {
        type: "reserve",
        key: parseKey(value["key"], `${where}.key`),
        amount,
        limit,
        window: parseWindow(value["window"], `${where}.window`),
        reason: value["reason"] !== undefined ? parseReason(value["reason"], `${where}.reason`) : { code: "limit_exceeded", message: "The request would exceed a limit." },
      };
    }
    default:
      throw new PolicyError(`${where}.type must be reserve`);
  }
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
  throw new PolicyError(`${where} must be minute, hour or day`);
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

function positiveNumber(raw: unknown, where: string): number {
  if (typeof raw !== "number" || !Number.isFinite(raw) || raw <= 0) throw new PolicyError(`${where} must be a positive number`);
  return raw;
}
