// Where two policy answers differ, field by field: the effect, each reason code
// added or removed, and each obligation (matched by type and key) added, removed,
// or with a field changed. Shadow evaluation (active → shadow) and replay
// (recorded → candidate) both say what differs this way.
import { isDeepStrictEqual } from "node:util";
import type { JsonObject, JsonValue } from "@verdict/sdk/wire";
import type { Difference, FieldChange } from "../contract/index.js";

/** What is compared of an answer: its effect, its reason codes, its obligations in the registry's summary form (key as a list). */
export interface ComparableAnswer {
  effect: string;
  reasons: readonly { code: string }[];
  obligations: readonly JsonObject[];
}

export function answerChanges(from: ComparableAnswer, to: ComparableAnswer): FieldChange[] {
  const changes: FieldChange[] = [];
  if (from.effect !== to.effect) changes.push({ field: "effect", from: from.effect, to: to.effect });
  // the set of codes: two deny rules giving the same code say one thing
  const codes = (answer: ComparableAnswer) => new Set(answer.reasons.map((r) => r.code));
  const [a, b] = [codes(from), codes(to)];
  for (const code of [...a].filter((c) => !b.has(c)).sort()) changes.push({ field: "reasons", from: code });
  for (const code of [...b].filter((c) => !a.has(c)).sort()) changes.push({ field: "reasons", to: code });
  changes.push(...obligationChanges(from.obligations, to.obligations));
  return changes;
}

/** The parts of an answer that changed (what shadow evaluation counts and records as `differs`). */
export function differencesOf(changes: readonly FieldChange[]): Difference[] {
  const parts = new Set(changes.map((c) => (c.field === "effect" ? "effect" : c.field === "reasons" ? "reasons" : "obligations")));
  return (["effect", "reasons", "obligations"] as const).filter((d) => parts.has(d));
}

/** How an obligation is named in a change: its type and its key's parts joined by "/". */
export function obligationLabel(obligation: JsonObject): string {
  const text = (value: JsonValue | undefined) => (typeof value === "string" || typeof value === "number" ? String(value) : JSON.stringify(value));
  const key = obligation["key"];
  return `obligations[${text(obligation["type"])} ${Array.isArray(key) ? key.map(text).join("/") : text(key)}]`;
}

function obligationChanges(from: readonly JsonObject[], to: readonly JsonObject[]): FieldChange[] {
  const identity = (o: JsonObject) => JSON.stringify([o["type"], o["key"]]);
  const byJson = (a: JsonObject, b: JsonObject) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
  const groups = new Map<string, { from: JsonObject[]; to: JsonObject[] }>();
  for (const [side, list] of [
    ["from", from],
    ["to", to],
  ] as const) {
    for (const o of list) {
      const group = groups.get(identity(o)) ?? { from: [], to: [] };
      group[side].push(o);
      groups.set(identity(o), group);
    }
  }
  const changes: FieldChange[] = [];
  for (const group of groups.values()) {
    // Equal obligations pair off first; what is left is paired in order (a changed field), and the rest was added or removed.
    const left = [...group.from].sort(byJson);
    const right = [...group.to].sort(byJson);
    for (let i = left.length - 1; i >= 0; i--) {
      const same = right.findIndex((o) => isDeepStrictEqual(o, left[i]));
      if (same >= 0) {
        left.splice(i, 1);
        right.splice(same, 1);
      }
    }
    for (let i = 0; i < Math.max(left.length, right.length); i++) {
      const a = left[i];
      const b = right[i];
      if (a && b) changes.push(...fieldChanges(a, b));
      else if (a) changes.push({ field: obligationLabel(a), from: a });
      else if (b) changes.push({ field: obligationLabel(b), to: b });
    }
  }
  return changes;
}

function fieldChanges(a: JsonObject, b: JsonObject): FieldChange[] {
  const label = obligationLabel(a);
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((f) => f !== "type" && f !== "key").sort();
  return fields.flatMap((field): FieldChange[] => {
    const x: JsonValue | undefined = a[field];
    const y: JsonValue | undefined = b[field];
    if (isDeepStrictEqual(x, y)) return [];
    return [{ field: `${label}.${field}`, ...(x !== undefined ? { from: x } : {}), ...(y !== undefined ? { to: y } : {}) }];
  });
}
