// What an approval is bound to: the user, the agent and the chain of agents it acts
// through (RFC 8693 act), the action, the resource, and the values of the context
// fields the policy named, as the SHA-256 of their canonical JSON (RFC 8785), so that
// a changed amount, or the same agent driven by another sub-agent, is another request.
import { createHash } from "node:crypto";
import { canonicalize } from "json-canonicalize";
import type { JsonObject, JsonValue } from "@verdict/sdk/wire";
import type { ApprovalRequirement } from "../contract/index.js";
import type { ActorEntry } from "../token/index.js";

export interface Binding {
  issuer: string;
  subject: string;
  client_id: string;
  /**
   * The token's act chain as actorsOf() gives it, outermost (current) actor first: the person is shown it, and
   * only a request through exactly this chain may use the approval. Absent on approvals kept before 2026-12-07:
   * chainOf() reads that as no chain.
   */
  actors?: ActorEntry[];
  action: string;
  resource: { type: string; id: string };
  /** RFC 8785 JSON of the named fields (an absent field is null). */
  bound: string;
  /** "sha256:" and the hex SHA-256 of `bound`. */
  digest: string;
}

export function boundFields(fields: readonly string[], context: JsonObject): { bound: string; digest: string } {
  const values: Record<string, JsonValue> = {};
  for (const field of [...fields].sort()) values[field] = Object.hasOwn(context, field) ? (context[field] ?? null) : null;
  const bound = canonicalize(values);
  return { bound, digest: `sha256:${createHash("sha256").update(bound, "utf8").digest("hex")}` };
}

/**
 * "sha256:" and the hex SHA-256 of what the person is asked and how they must prove
 * themselves (the policy's requirement, canonical): an approval asked under another
 * requirement (the policy changed since, or decides on facts outside the bound fields)
 * is neither given back to a new ask nor usable for this one.
 */
export function requirementDigest(requirement: ApprovalRequirement): string {
  const text = canonicalize({
    fields: [...requirement.fields].sort(),
    expires_in: requirement.expiresInSeconds,
    acr_values: [...requirement.acrValues].sort(),
    max_age: requirement.maxAge ?? null,
    // Only when asked: the digest of an approval kept before scopes were (none asked) stays what it was.
    ...(requirement.scopes.length > 0 ? { scopes: [...requirement.scopes].sort() } : {}),
    approvers: requirement.approvers.map(({ issuer, subject }) => canonicalize([issuer, subject])).sort(),
    authorization_details: requirement.authorizationDetails,
  });
  return `sha256:${createHash("sha256").update(text, "utf8").digest("hex")}`;
}

/**
 * The request an approval is asked for, as one key: "sha256:" and the hex SHA-256 of the canonical JSON of the API,
 * the binding (user, agent, chain of agents, action, resource, context digest) and the requirement's digest. A
 * pending approval holds it (request_key) under a unique index, so the same request asked at once on several
 * processes is kept, and its person asked, once.
 */
export function requestKey(api: string, binding: Binding, requirement: string): string {
  const text = canonicalize({
    api,
    issuer: binding.issuer,
    subject: binding.subject,
    client_id: binding.client_id,
    actors: chainOf(binding).map((actor) => ({ subject: actor.subject, client_id: actor.client_id ?? null, iss: actor.iss ?? null })),
    action: binding.action,
    resource: { type: binding.resource.type, id: binding.resource.id },
    digest: binding.digest,
    requirement,
  });
  return `sha256:${createHash("sha256").update(text, "utf8").digest("hex")}`;
}

/**
 * The chain of agents a binding was made through. An approval kept before chains were recorded was shown to the
 * person as the agent alone, so it counts as asked directly: honoured only for a request that carries no act chain.
 */
export function chainOf(binding: Pick<Binding, "actors">): ActorEntry[] {
  return binding.actors ?? [];
}

/** Whether two bindings were made through exactly the same chain of agents: the same actors (subject, client_id, iss), in the same order. */
export function sameChain(binding: Pick<Binding, "actors">, other: Pick<Binding, "actors">): boolean {
  const a = chainOf(binding);
  const b = chainOf(other);
  return a.length === b.length && a.every((actor, i) => actor.subject === b[i]?.subject && actor.client_id === b[i]?.client_id && actor.iss === b[i]?.iss);
}

/** The first part of `binding` that `other` does not match, or undefined when it is the same request. */
export function differs(binding: Binding, other: Binding): string | undefined {
  if (binding.issuer !== other.issuer || binding.subject !== other.subject) return "another user";
  if (binding.client_id !== other.client_id) return "another agent";
  if (!sameChain(binding, other)) return "another chain of agents";
  if (binding.action !== other.action) return "another action";
  if (binding.resource.type !== other.resource.type || binding.resource.id !== other.resource.id) return "another resource";
  if (binding.digest !== other.digest) return "other values of the approved fields";
  return undefined;
}
