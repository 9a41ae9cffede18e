// Masking: the policy data names the context and resource fields that must never
// reach the audit trail (docs/audit.md). `drop` removes a field, `mask` keeps the
// key with the value replaced, and `detect: ["card_number"]` masks any value or key
// that holds a card number (Luhn-valid, 13-19 digits, as text or as a JSON number)
// wherever it is. Credentials are masked whatever the rules say: a value under an
// `authorization` key, an HTTP credential ("Bearer ...") and anything shaped like
// a JWT, anywhere.
import type { JsonObject, JsonValue } from "@verdict/sdk/wire";
import { VerdictError } from "../errors/index.js";
import { escapeKey, setOwn } from "./keys.js";

export const MASKED = "[masked]";

export type MaskAction = "mask" | "drop";

export interface PathRule {
  /** Lowercased segments after the root; "*" is any one key, "**" any number of keys. */
  segments: string[];
  action: MaskAction;
}

export interface MaskRules {
  context: PathRule[];
  attributes: PathRule[];
  resourceId?: MaskAction;
  detectCardNumbers: boolean;
}

export const NO_MASKING: MaskRules = { context: [], attributes: [], detectCardNumbers: false };

/** The policy data's audit settings do not fit the contract; the message says what to change. */
export class MaskRuleError extends VerdictError {
  constructor(message: string) {
    super("mask_rule_invalid", `data.settings.audit: ${message}`);
  }
}

const MAX_RULES = 256;
const MAX_SEGMENTS = 16;
const DETECTORS = new Set(["card_number"]);

/** Reads data.settings.audit ({mask, drop, detect}); absent settings mask nothing. */
export function maskRulesFrom(data: Readonly<Record<string, unknown>>): MaskRules {
  const settings = (data["settings"] as Record<string, unknown> | undefined)?.["audit"];
  if (settings === undefined) return NO_MASKING;
  if (typeof settings !== "object" || settings === null || Array.isArray(settings)) throw new MaskRuleError("must be an object");
  const { mask = [], drop = [], detect = [], ...rest } = settings as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new MaskRuleError(`unknown key ${unknown.join(", ")} (expected mask, drop, detect)`);
  const rules: MaskRules = { context: [], attributes: [], detectCardNumbers: false };
  for (const [action, paths] of [
    ["drop", drop],
    ["mask", mask],
  ] as const) {
    for (const path of stringList(paths, action)) addRule(rules, path, action);
  }
  if (rules.context.length + rules.attributes.length > MAX_RULES) throw new MaskRuleError(`at most ${MAX_RULES} paths`);
  for (const detector of stringList(detect, "detect")) {
    if (!DETECTORS.has(detector)) throw new MaskRuleError(`detect: unknown detector ${detector} (known: ${[...DETECTORS].join(", ")})`);
    rules.detectCardNumbers = true;
  }
  return rules;
}

function stringList(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === "string")) {
    throw new MaskRuleError(`${name} must be a list of strings`);
  }
  return value;
}

function addRule(rules: MaskRules, path: string, action: MaskAction): void {
  if (path === "resource.id") {
    rules.resourceId = rules.resourceId === "drop" ? "drop" : action;
    return;
  }
  const [root, list] = path.startsWith("context.")
    ? ["context.", rules.context]
    : path.startsWith("resource.attributes.")
      ? ["resource.attributes.", rules.attributes]
      : [undefined, undefined];
  if (!root || !list) throw new MaskRuleError(`${action}: ${path} must start with context. or resource.attributes. (or be resource.id)`);
  const segments = path.slice(root.length).split(".");
  if (segments.length > MAX_SEGMENTS || segments.some((s) => s.length === 0)) {
    throw new MaskRuleError(`${action}: ${path} needs 1-${MAX_SEGMENTS} non-empty segments after ${root}`);
  }
  list.push({ segments: segments.map((s) => s.toLowerCase()), action });
}

/**
 * A copy of `object` with the rules applied and every key escaped (keys.ts): what
 * the audit record stores. Keys match case-insensitively; arrays are transparent (a
 * path goes through every element).
 */
export function redactObject(object: JsonObject, rules: readonly PathRule[], detectCardNumbers: boolean): JsonObject {
  const compiled = compile(rules);
  const start: State[] = compiled.general.map((_, rule) => ({ rule, pos: 0 }));
  return walkObject(object, start, compiled, detectCardNumbers);
}

/**
 * Rules of the form `**.name` (most of them) become one lookup by key; the rest
 * are followed segment by segment. Built once per rule list.
 */
interface Compiled {
  anywhere: Map<string, MaskAction>;
  general: PathRule[];
}

const compiledRules = new WeakMap<readonly PathRule[], Compiled>();

function compile(rules: readonly PathRule[]): Compiled {
  let compiled = compiledRules.get(rules);
  if (!compiled) {
    compiled = { anywhere: new Map(), general: [] };
    for (const rule of rules) {
      const [first, name, ...more] = rule.segments;
      if (first === "**" && name !== undefined && name !== "*" && name !== "**" && more.length === 0) {
        if (compiled.anywhere.get(name) !== "drop") compiled.anywhere.set(name, rule.action);
      } else {
        compiled.general.push(rule);
      }
    }
    compiledRules.set(rules, compiled);
  }
  return compiled;
}

/** The resource id as stored: dropped (empty), masked, or as sent. */
export function redactResourceId(id: string, rules: MaskRules): string {
  if (id === "") return id;
  if (rules.resourceId === "drop") return "";
  if (rules.resourceId === "mask") return MASKED;
  return redactText(id, rules.detectCardNumbers);
}

/** Free text from the caller (a request id, a resource id): masked when it holds a credential, or a card number when detected. */
export function redactText(text: string, detectCardNumbers: boolean): string {
  return isSecretText(text, detectCardNumbers) ? MASKED : text;
}

/** Keys whose values are credentials, masked whatever the rules say (compared lowercased, "-" as "_"). */
const CREDENTIAL_KEYS = new Set(["authorization", "proxy_authorization"]);

// An HTTP credential as an Authorization header carries it (RFC 9110 §11.4).
const HTTP_CREDENTIAL = /^\s*(bearer|dpop|basic|mac|negotiate)\s+[\x21-\x7e]{8,}/i;

function isSecretText(text: string, detectCardNumbers: boolean): boolean {
  return containsJwtLike(text) || HTTP_CREDENTIAL.test(text) || (detectCardNumbers && containsCardNumber(text));
}

const DOT = 0x2e;

// A JWS or JWE anywhere in the text (its header is base64url JSON, so it starts
// "eyJ"): what /eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/ finds, in one
// pass. That regex, unanchored, scanned a run of "eyJeyJ…" again from each "eyJ" in
// it: quadratic, seconds for a few hundred kilobytes of caller data.
export function containsJwtLike(text: string): boolean {
  let at = text.indexOf("eyJ");
  while (at >= 0) {
    // Every "eyJ" in one run of base64url characters is followed by the same end of
    // run and the same dots; the first has the most characters before them, so it
    // alone decides, and the search goes on after the run.
    const headerEnd = base64urlEnd(text, at + 3);
    // "eyJ", two or more header characters, ".", a payload (maybe empty), "."
    if (headerEnd - at >= 5 && text.charCodeAt(headerEnd) === DOT && text.charCodeAt(base64urlEnd(text, headerEnd + 1)) === DOT) return true;
    at = text.indexOf("eyJ", headerEnd);
  }
  return false;
}

/** Where the run of base64url characters ([A-Za-z0-9_-]) starting at `from` ends. */
function base64urlEnd(text: string, from: number): number {
  let i = from;
  while (i < text.length && isBase64url(text.charCodeAt(i))) i++;
  return i;
}

function isBase64url(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
}

/** A card number sent as a JSON number (its digits are what a Luhn check reads). */
export function isCardNumberValue(value: number): boolean {
  if (!Number.isInteger(value) || value < 1e12 || value >= 1e19) return false;
  // Past 2^53 the number is no longer exact: it held a 17-19 digit number, masked either way.
  return !Number.isSafeInteger(value) || luhn(String(value));
}

interface State {
  rule: number;
  pos: number;
}

function walkObject(object: JsonObject, states: readonly State[], rules: Compiled, detect: boolean): JsonObject {
  const out: JsonObject = {};
  const matching = rules.anywhere.size > 0 || states.length > 0;
  let maskedKeys = 0;
  for (const [key, value] of Object.entries(object)) {
    let action: MaskAction | undefined;
    const next: State[] = [];
    const lower = key.toLowerCase();
    if (CREDENTIAL_KEYS.has(lower.replaceAll("-", "_"))) action = "mask";
    if (matching) {
      action = rules.anywhere.get(lower) ?? action;
      const seen = new Set<number>();
      for (const state of states) {
        const rule = rules.general[state.rule] as PathRule;
        for (const pos of advance(rule.segments, state.pos, lower)) {
          if (rest(rule.segments, pos)) action = action === "drop" || rule.action === "drop" ? "drop" : "mask";
          const id = state.rule * (MAX_SEGMENTS + 1) + pos;
          if (pos < rule.segments.length && !seen.has(id)) {
            seen.add(id);
            next.push({ rule: state.rule, pos });
          }
        }
      }
    }
    if (action === "drop") continue;
    // A key can carry a secret too ({"4111 1111 1111 1111": "visa"}): it is replaced, numbered so keys stay distinct.
    const stored = isSecretText(key, detect) ? (maskedKeys++ === 0 ? MASKED : `${MASKED}#${maskedKeys}`) : key;
    setOwn(out, escapeKey(stored), action === "mask" ? MASKED : walkValue(value, next, rules, detect));
  }
  return out;
}

function walkValue(value: JsonValue, states: readonly State[], rules: Compiled, detect: boolean): JsonValue {
  if (Array.isArray(value)) return value.map((item) => walkValue(item, states, rules, detect));
  if (value !== null && typeof value === "object") return walkObject(value, states, rules, detect);
  if (typeof value === "string") return redactText(value, detect);
  if (detect && typeof value === "number" && isCardNumberValue(value)) return MASKED;
  return value;
}

/** The positions a rule can be at after matching `key` from `pos`. */
function advance(segments: readonly string[], pos: number, key: string): number[] {
  const segment = segments[pos];
  if (segment === undefined) return [];
  if (segment === "**") return [pos, ...advance(segments, pos + 1, key)];
  return segment === "*" || segment === key ? [pos + 1] : [];
}

/** True when the rule is satisfied at `pos` (nothing but "**" is left). */
function rest(segments: readonly string[], pos: number): boolean {
  for (let i = pos; i < segments.length; i++) if (segments[i] !== "**") return false;
  return true;
}

// Groups of digits separated by up to three spaces, dots, slashes, dashes or
// underscores ("4111.1111.1111.1111", "4111  1111 / 1111 1111"). Any run of whole
// groups holding 13-19 digits is a candidate, so a card beside other digits is
// still found; a group of more than 19 digits is part of something longer.
const DIGIT_GROUPS = /\d+(?:[\s./_-]{1,3}\d+)*/g;
const SEPARATORS = /[\s./_-]+/;
// A UUID is an identifier, not a card number: its digits are not read (about one
// random UUID in 360 holds a Luhn-valid run of 13-19 digits across its dashes, and
// request and resource ids are often UUIDs).
const UUID = /(?<![0-9A-Za-z])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9A-Za-z])/gi;

export function containsCardNumber(text: string): boolean {
  if (text.length < 13) return false;
  // Most text holds fewer than 13 ASCII digits and nothing but ASCII: no card number in it.
  let digits = 0;
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) digits += 1;
    else if (c > 127) ascii = false;
  }
  if (ascii && digits < 13) return false;
  // Full-width and other compatibility digits ("４１１１") read as the digits they are.
  // eslint-disable-next-line no-control-regex -- any character outside ASCII, control characters included
  const normalized = /[^\x00-\x7f]/.test(text) ? text.normalize("NFKC") : text;
  // Each UUID becomes a letter, which separates the digits on either side of it.
  const scanned = normalized.includes("-") ? normalized.replace(UUID, "x") : normalized;
  for (const match of scanned.matchAll(DIGIT_GROUPS)) {
    if (match[0].length < 13) continue;
    const groups = match[0].split(SEPARATORS);
    for (let first = 0; first < groups.length; first++) {
      let digits = "";
      for (let last = first; last < groups.length; last++) {
        digits += groups[last];
        if (digits.length > 19) break;
        if (digits.length >= 13 && luhn(digits)) return true;
      }
    }
  }
  return false;
}

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
