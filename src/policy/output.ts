// What `verdict/decision` must return, checked before Verdict acts on it. A result
// that does not fit is a PolicyError (DENY policy_error), never an allow.
import { isDeepStrictEqual } from "node:util";
import { isJsonObject, type JsonObject, type Reason } from "@verdict/sdk/wire";
import {
  DEFAULT_APPROVAL_SECONDS,
  MAX_APPROVAL_SECONDS,
  type ApprovalRequirement,
  type Effect,
  type ObligationBase,
  type ObligationFailure,
  type ObligationFields,
  type StateQuery,
  type StepUp,
  type WindowSpec,
} from "../contract/index.js";
import { VerdictError } from "../errors/index.js";
import { defaultObligations, type ObligationRegistry } from "../obligations/index.js";

export type { Effect } from "../contract/index.js";

/** An obligation a policy asked for, as parsed: the common fields, and its type's own (obligations/). */
export type ObligationRequest = ObligationBase;

/** One rule that fired, as the policy reports it (opa-wasm has no trace of its own). */
export interface RuleHit {
  /** policy_error: Verdict's own entry when the policy failed (rule: the rule or entry point; code: timeout, memory, error, invalid_output...). */
  kind: "deny" | "step_up" | "obligation" | "policy_error";
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
  /** A step-up that a person's approval of this very request answers (docs/approvals.md); its obligations apply once it is used. */
  approval?: ApprovalRequirement;
  /** A deny's RFC 9396 authorization details the client must obtain (insufficient_authorization). */
  requiredAuthorizationDetails: JsonObject[];
  obligations: ObligationRequest[];
  /** The rules that fired, whatever the effect; empty when the policy reports none. */
  explain: RuleHit[];
}

export class PolicyError extends VerdictError {
  constructor(
    message: string,
    /** The rule whose output did not fit, when the policy names it (explain, or the obligation's own `rule`). */
    readonly rule?: string,
    /** The entry point being evaluated when it failed (verdict/state_queries or verdict/decision). */
    readonly entrypoint?: string,
  ) {
    super("policy_error", message);
  }
}

const CODE = /^[a-z][a-z0-9_]{0,63}$/;
const RULE = /^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$/;
const MAX_EXPLAIN = 256;
// eslint-disable-next-line no-control-regex -- it looks for control characters, to refuse them
const KEY_PART = /^[^\u0000-\u001f\u007f]{1,256}$/;
const MAX_KEY_PARTS = 8;
const MAX_STATE_QUERIES = 16;
/** Sliding windows keep one entry per request, so they are bounded to a day. */
const MAX_SLIDING_SECONDS = 86_400;

export function parseDecision(raw: unknown, registry: ObligationRegistry = defaultObligations): PolicyDecision {
  try {
    return parseDecisionFields(raw, registry);
  } catch (error) {
    if (!(error instanceof PolicyError) || error.rule !== undefined) throw error;
    const rule = ruleOf(raw, error.message);
    throw rule ? new PolicyError(`rule ${rule}: ${error.message}`, rule) : error;
  }
}

/**
 * The rule behind an invalid part of a decision, named as the policy names it: an
 * obligation's own `rule`, else the explain entry that carries the same obligation
 * (or the same reason): an author looks for a rule, not an array index.
 */
function ruleOf(raw: unknown, message: string): string | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const decision = raw as Record<string, unknown>;
  const explain = Array.isArray(decision["explain"]) ? (decision["explain"] as unknown[]) : [];
  const named = (entry: unknown) =>
    typeof entry === "object" && entry !== null && typeof (entry as { rule?: unknown }).rule === "string" ? (entry as { rule: string }).rule : undefined;
  const at = /^decision\.(obligations|reasons|explain)\[(\d+)\]/.exec(message);
  if (!at) return undefined;
  const list = decision[at[1] as string];
  const item = Array.isArray(list) ? (list as unknown[])[Number(at[2])] : undefined;
  if (at[1] === "explain") return named(item);
  if (at[1] === "obligations") {
    const own = named(item);
    if (own) return own;
    return named(explain.find((e) => typeof e === "object" && e !== null && isDeepStrictEqual((e as { obligation?: unknown }).obligation, item)));
  }
  const code = typeof item === "object" && item !== null ? (item as { code?: unknown }).code : undefined;
  return named(
    explain.find((e) => typeof e === "object" && e !== null && (e as { code?: unknown }).code === code && (e as { kind?: unknown }).kind !== "obligation"),
  );
}

function parseDecisionFields(raw: unknown, registry: ObligationRegistry): PolicyDecision {
  const value = object(raw, "decision");
  const effect = value["effect"];
  if (effect !== "allow" && effect !== "deny" && effect !== "step_up") {
    throw new PolicyError("decision.effect must be allow, deny or step_up");
  }
  // A person's approval and an authentication step-up answer a step_up: on another effect they would be dropped.
  for (const member of ["approval", "step_up"]) {
    if (effect !== "step_up" && value[member] !== undefined) throw new PolicyError(`decision.${member} is for a step_up decision, not ${effect}`);
  }
  const reasons = optionalList(value, "reasons").map((item, i) => parseReason(item, `decision.reasons[${i}]`));
  if (effect !== "allow" && reasons.length === 0) throw new PolicyError(`a ${effect} decision needs at least one reason`);
  const requiredScopes = optionalList(value, "required_scopes").map((item, i) => scopeString(item, `decision.required_scopes[${i}]`));
  const decision: PolicyDecision = {
    effect,
    reasons,
    requiredScopes,
    requiredAuthorizationDetails: authorizationDetails(value["required_authorization_details"], "decision.required_authorization_details"),
    obligations: optionalList(value, "obligations").map((item, i) => parseObligation(item, `decision.obligations[${i}]`, registry)),
    explain: parseExplain(value["explain"] === undefined ? [] : value["explain"], "decision.explain", registry),
  };
  if (effect === "step_up" && value["approval"] !== undefined) {
    decision.approval = parseApproval(value["approval"], "decision.approval");
    // An authentication step-up, when the policy asks for both, comes first.
    if (value["step_up"] !== undefined) decision.stepUp = parseStepUp(value["step_up"], "decision.step_up");
  } else if (effect === "step_up") {
    decision.stepUp = parseStepUp(value["step_up"], "decision.step_up");
  }
  return decision;
}

const FIELD = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const MAX_APPROVAL_FIELDS = 16;
const MAX_APPROVERS = 16;
const MAX_APPROVAL_SCOPES = 16;
const MAX_AUTHORIZATION_DETAILS = 8;

function parseApproval(raw: unknown, where: string): ApprovalRequirement {
  const value = object(raw, where);
  const fields = list(value["fields"] === undefined ? [] : value["fields"], `${where}.fields`).map((item, i) => {
    if (typeof item !== "string" || !FIELD.test(item)) throw new PolicyError(`${where}.fields[${i}] must name a top-level context field`);
    return item;
  });
  if (fields.length > MAX_APPROVAL_FIELDS) throw new PolicyError(`${where}.fields has more than ${MAX_APPROVAL_FIELDS} entries`);
  const expires = value["expires_in"] ?? DEFAULT_APPROVAL_SECONDS;
  if (typeof expires !== "number" || !Number.isInteger(expires) || expires < 1 || expires > MAX_APPROVAL_SECONDS) {
    throw new PolicyError(`${where}.expires_in must be a whole number of seconds from 1 to ${MAX_APPROVAL_SECONDS}`);
  }
  const acrValues = list(value["acr_values"] === undefined ? [] : value["acr_values"], `${where}.acr_values`).map((item, i) =>
    scopeString(item, `${where}.acr_values[${i}]`),
  );
  const maxAge = value["max_age"];
  if (maxAge !== undefined && (typeof maxAge !== "number" || !Number.isSafeInteger(maxAge) || maxAge < 0)) {
    throw new PolicyError(`${where}.max_age must be a whole number of seconds`);
  }
  const scopes = list(value["scopes"] === undefined ? [] : value["scopes"], `${where}.scopes`).map((item, i) => scopeString(item, `${where}.scopes[${i}]`));
  if (scopes.length > MAX_APPROVAL_SCOPES) throw new PolicyError(`${where}.scopes has more than ${MAX_APPROVAL_SCOPES} entries`);
  const approvers = list(value["approvers"] === undefined ? [] : value["approvers"], `${where}.approvers`).map((item, i) => {
    const approver = object(item, `${where}.approvers[${i}]`);
    const { issuer, subject } = approver;
    if (typeof issuer !== "string" || issuer === "" || typeof subject !== "string" || subject === "") {
      throw new PolicyError(`${where}.approvers[${i}] must have an issuer and a subject`);
    }
    return { issuer, subject };
  });
  if (approvers.length > MAX_APPROVERS) throw new PolicyError(`${where}.approvers has more than ${MAX_APPROVERS} entries`);
  return {
    fields: [...new Set(fields)].sort(),
    expiresInSeconds: expires,
    acrValues,
    ...(maxAge !== undefined ? { maxAge } : {}),
    scopes: [...new Set(scopes)].sort(),
    approvers,
    authorizationDetails: authorizationDetails(value["authorization_details"], `${where}.authorization_details`),
  };
}

/** RFC 9396 §2: objects, each with a string type. */
function authorizationDetails(raw: unknown, where: string): JsonObject[] {
  const items = list(raw === undefined ? [] : raw, where);
  if (items.length > MAX_AUTHORIZATION_DETAILS) throw new PolicyError(`${where} has more than ${MAX_AUTHORIZATION_DETAILS} entries`);
  return items.map((item, i) => {
    if (!isJsonObject(item) || typeof item["type"] !== "string" || item["type"] === "")
      throw new PolicyError(`${where}[${i}] must be an object with a type string (RFC 9396)`);
    return item;
  });
}

function parseReason(raw: unknown, where: string): Reason {
  const value = object(raw, where);
  const code = value["code"];
  const message = value["message"];
  if (typeof code !== "string" || !CODE.test(code)) throw new PolicyError(`${where}.code must be a snake_case code`);
  if (message !== undefined && typeof message !== "string") throw new PolicyError(`${where}.message must be a string`);
  return { code, message: message ?? code.replaceAll("_", " ") };
}

/**
 * An obligation's entry may carry the obligation itself (`obligation`) instead of a
 * message: its type then says what it does, so explain text is not written in Rego.
 */
function parseExplain(raw: unknown, where: string, registry: ObligationRegistry): RuleHit[] {
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
    if (message === undefined && kind === "obligation" && value["obligation"] !== undefined) {
      const obligation = parseObligation(value["obligation"], `${where}[${i}].obligation`, registry);
      return { kind, rule, code, message: registry.get(obligation.type).explain(obligation) };
    }
    return { kind, rule, code, message: message ?? "" };
  });
}

function parseStepUp(raw: unknown, where: string): StepUp {
  const value = object(raw, where);
  const acrValues = list(value["acr_values"], `${where}.acr_values`).map((item, i) => scopeString(item, `${where}.acr_values[${i}]`));
  if (acrValues.length === 0) throw new PolicyError(`${where}.acr_values must name at least one acr`);
  const maxAge = value["max_age"];
  if (maxAge !== undefined && (typeof maxAge !== "number" || !Number.isSafeInteger(maxAge) || maxAge < 0)) {
    throw new PolicyError(`${where}.max_age must be a whole number of seconds`);
  }
  return { acrValues, ...(maxAge !== undefined ? { maxAge } : {}) };
}

function parseObligation(raw: unknown, where: string, registry: ObligationRegistry): ObligationRequest {
  const value = object(raw, where);
  const typeName = value["type"];
  const type = typeof typeName === "string" ? registry.find(typeName) : undefined;
  if (!type) throw new PolicyError(`${where}.type must be ${registry.names()}`);
  const base: ObligationBase = {
    type: type.type,
    key: parseKey(value["key"], `${where}.key`),
    reason: value["reason"] !== undefined ? parseReason(value["reason"], `${where}.reason`) : type.defaultReason,
    onFailure: parseFailure(value["on_failure"], value["step_up"], where),
  };
  return { ...base, ...type.parse(obligationFields(value, where)) };
}

/** The output contract's field rules, for an obligation type to read its own fields with. */
function obligationFields(value: Record<string, unknown>, where: string): ObligationFields {
  return {
    positiveNumber: (name) => positiveNumber(value[name], `${where}.${name}`),
    positiveInteger: (name) => positiveInteger(value[name], `${where}.${name}`),
    window: (name) => parseWindow(value[name], `${where}.${name}`),
    has: (name) => value[name] !== undefined,
    oneOf: (name, values, fallback) => {
      const raw = value[name];
      if (raw === undefined) return fallback;
      const found = values.find((candidate) => candidate === raw);
      if (found === undefined) throw new PolicyError(`${where}.${name} must be one of ${values.join(", ")}`);
      return found;
    },
    invalid: (name, must) => {
      throw new PolicyError(`${where}.${name} must be ${must}`);
    },
  };
}

function parseFailure(raw: unknown, stepUp: unknown, where: string): ObligationFailure {
  if (raw === undefined || raw === "deny") return { effect: "deny" };
  if (raw === "step_up") return { effect: "step_up", stepUp: parseStepUp(stepUp, `${where}.step_up`) };
  throw new PolicyError(`${where}.on_failure must be deny or step_up`);
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

/** A decision's list member: absent is none; anything but an array (null included) is refused. */
function optionalList(decision: Record<string, unknown>, member: string): unknown[] {
  return decision[member] === undefined ? [] : list(decision[member], `decision.${member}`);
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
