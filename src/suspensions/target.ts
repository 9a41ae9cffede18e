// A suspension's target, checked once where it comes in (gRPC, SSF, a policy's
// obligation): which identifiers each kind needs, their bounds, and the plain-string
// forms the store and the audit trail keep.
import { createHash } from "node:crypto";
import { SUSPENSION_KINDS, type SuspensionKind, type SuspensionTarget } from "../contract/index.js";
import { VerdictError } from "../errors/index.js";

/** The identifiers each kind needs (issuer is optional for every kind: absent means every trusted issuer). */
const NEEDS: Record<SuspensionKind, readonly (keyof SuspensionTarget)[]> = {
  agent: ["client_id"],
  user: ["subject"],
  delegation: ["subject", "client_id"],
  token: ["token_id"],
  session: ["session_id"],
};

const FIELDS = ["issuer", "subject", "client_id", "token_id", "session_id"] as const;
// eslint-disable-next-line no-control-regex -- it looks for control characters, to refuse them
const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_LENGTH = 512;

/** A target that cannot name a principal; the message says which field to fix. */
export class TargetError extends VerdictError {
  constructor(message: string) {
    super("invalid_argument", message);
  }
}

/** A target with exactly the identifiers its kind needs (and maybe an issuer), each a plain bounded string. */
export function parseTarget(raw: { kind?: string } & Partial<Record<(typeof FIELDS)[number], string | undefined>>): SuspensionTarget {
  const kind = raw.kind ?? "";
  if (!SUSPENSION_KINDS.includes(kind as SuspensionKind)) throw new TargetError(`target kind must be one of ${SUSPENSION_KINDS.join(", ")}`);
  const needs = NEEDS[kind as SuspensionKind];
  const target: SuspensionTarget = { kind: kind as SuspensionKind };
  const named = `${kind === "agent" ? "an" : "a"} ${kind} suspension`;
  for (const field of FIELDS) {
    const value = raw[field];
    if (value === undefined || value === "") {
      if (needs.includes(field)) throw new TargetError(`${named} needs ${field}`);
      continue;
    }
    if (field !== "issuer" && !needs.includes(field)) throw new TargetError(`${named} takes no ${field}`);
    if (value.length > MAX_LENGTH || CONTROL.test(value))
      throw new TargetError(`${field} must be at most ${MAX_LENGTH} characters, without control characters`);
    target[field] = value;
  }
  return target;
}

/** The target as plain strings, as the audit trail's event target keeps it. */
export function targetFields(target: SuspensionTarget): Record<string, string> {
  const out: Record<string, string> = { kind: target.kind };
  for (const field of FIELDS) {
    const value = target[field];
    if (value !== undefined) out[field] = value;
  }
  return out;
}

/** A stable id for one source's suspension of one target (the same target suspended twice by one source is one suspension). */
export function suspensionId(source: string, target: SuspensionTarget): string {
  const key = JSON.stringify([source, target.kind, ...FIELDS.map((field) => target[field] ?? "")]);
  return `s-${createHash("sha256").update(key, "utf8").digest("hex").slice(0, 24)}`;
}

/** For people: "agent agent-7", "delegation alice → agent-7 (issuer https://…)". */
export function describeTarget(target: SuspensionTarget): string {
  const who: Record<SuspensionKind, () => string> = {
    agent: () => `agent ${target.client_id ?? ""}`,
    user: () => `user ${target.subject ?? ""}`,
    delegation: () => `delegation ${target.subject ?? ""} → ${target.client_id ?? ""}`,
    token: () => `token ${target.token_id ?? ""}`,
    session: () => `session ${target.session_id ?? ""}`,
  };
  return `${who[target.kind]()}${target.issuer !== undefined ? ` (issuer ${target.issuer})` : ""}`;
}
