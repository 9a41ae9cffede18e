// The request schemas, checked by Fastify (ajv, no type coercion) before any
// handler runs. Unknown fields are allowed and ignored (the spec's forward
// compatibility rule). Per-item checks of a batch reuse `evaluationSchema`.
import type { EvaluationsSemantic } from "./types.js";

const object = { type: "object" } as const;
const name = { type: "string", minLength: 1 } as const;

const entity = {
  type: "object",
  required: ["type", "id"],
  properties: { type: name, id: name, properties: object },
} as const;

/** The searched-for entity: its id SHOULD be omitted and MUST be ignored. */
const searched = {
  type: "object",
  required: ["type"],
  properties: { type: name, properties: object },
} as const;

const action = {
  type: "object",
  required: ["name"],
  properties: { name, properties: object },
} as const;

const page = {
  type: "object",
  properties: {
    token: { type: "string" },
    limit: { type: "integer", minimum: 0 },
    properties: object,
  },
} as const;

export const SEMANTICS: readonly EvaluationsSemantic[] = ["execute_all", "deny_on_first_deny", "permit_on_first_permit"];

export const evaluationSchema = {
  type: "object",
  required: ["subject", "action", "resource"],
  properties: { subject: entity, action, resource: entity, context: object },
} as const;

export function evaluationsSchema(maxItems: number) {
  return {
    type: "object",
    properties: {
      subject: entity,
      action,
      resource: entity,
      context: object,
      // Items are checked one by one after defaults are applied: a bad item is a
      // false decision with an error, not a 400 for the whole batch.
      evaluations: { type: "array", maxItems },
      options: { type: "object", properties: { evaluations_semantic: { enum: [...SEMANTICS] } } },
    },
  } as const;
}

export const subjectSearchSchema = {
  type: "object",
  required: ["subject", "action", "resource"],
  properties: { subject: searched, action, resource: entity, context: object, page },
} as const;

export const resourceSearchSchema = {
  type: "object",
  required: ["subject", "action", "resource"],
  properties: { subject: entity, action, resource: searched, context: object, page },
} as const;

/** Action Search has no `action` (one sent is ignored). */
export const actionSearchSchema = {
  type: "object",
  required: ["subject", "resource"],
  properties: { subject: entity, resource: entity, context: object, page },
} as const;
