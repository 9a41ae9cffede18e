// The policy playground: an input as an operator writes it (principal, action,
// resource, context, state) evaluated by the active bundle and by the shadow bundle,
// side by side. It only evaluates: no token, no state read or written, no
// obligation applied, no audit record. It takes a worker only when one is idle, so
// it never queues ahead of a decision.
import type { JsonObject } from "@verdict/sdk/wire";
import { VerdictError } from "../../../errors/index.js";
import { PolicyError, type PolicyDecision, type PolicyEngine, type PolicyInput, type PolicyRuntime } from "../../../policy/index.js";
import { actorEntry, type ActorEntry } from "../../../token/index.js";
import { boundedObject, InvalidArgumentError, type EdgeLimits } from "../../validate.js";

export interface PlaygroundRequest {
  principal: {
    subject: string;
    client_id: string;
    client_type?: string;
    scopes?: string[];
    acr?: string;
    auth_time?: number;
    issuer?: string;
    actors?: ActorEntry[];
  };
  action: string;
  resource: { type: string; id: string; attributes?: JsonObject };
  context?: JsonObject;
  state?: JsonObject;
  caller?: { api: string; audience: string };
}

const text = (max: number) => ({ type: "string", maxLength: max }) as const;
const object = { type: "object" } as const;

/** The body's JSON schema (Fastify validates it before the handler runs); its free-form objects are then held to a Check's bounds (checkPlaygroundBounds). */
export const playgroundBody = {
  type: "object",
  required: ["principal", "action", "resource"],
  additionalProperties: false,
  properties: {
    principal: {
      type: "object",
      required: ["subject", "client_id"],
      additionalProperties: false,
      properties: {
        subject: text(512),
        client_id: text(512),
        client_type: text(64),
        scopes: { type: "array", maxItems: 64, items: text(128) },
        acr: text(128),
        auth_time: { type: "integer", minimum: 0 },
        issuer: text(512),
        actors: {
          type: "array",
          maxItems: 16,
          items: {
            type: "object",
            required: ["subject"],
            additionalProperties: false,
            properties: { subject: text(512), client_id: text(512), iss: text(512) },
          },
        },
      },
    },
    action: { type: "string", minLength: 1, maxLength: 256 },
    resource: {
      type: "object",
      required: ["type", "id"],
      additionalProperties: false,
      properties: { type: text(256), id: text(1024), attributes: object },
    },
    context: object,
    state: object,
    caller: { type: "object", required: ["api", "audience"], additionalProperties: false, properties: { api: text(64), audience: text(512) } },
  },
} as const;

/**
 * Holds the body's free-form objects (resource.attributes, context, and state, which a
 * Check reads from the database) to the bounds the Check edge holds a Check's to
 * (src/server/validate.ts: depth, values, keys, strings, max_context_bytes): the schema
 * says only that they are objects, and an input beyond them must not reach a policy
 * worker. Out of bounds: invalid_request (400), as the console's other invalid bodies.
 */
export function checkPlaygroundBounds(request: PlaygroundRequest, limits: EdgeLimits): void {
  try {
    boundedObject(request.resource.attributes, "resource.attributes", limits);
    boundedObject(request.context, "context", limits);
    boundedObject(request.state, "state", limits);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new VerdictError("invalid_request", error.message);
    throw error;
  }
}

export interface SideResult {
  revision: string;
  /** What the policy would read from state (verdict/state_queries), for the operator to fill in `state`. */
  state_queries?: unknown[];
  decision?: {
    effect: PolicyDecision["effect"];
    reasons: PolicyDecision["reasons"];
    required_scopes: string[];
    step_up?: PolicyDecision["stepUp"];
    obligations: PolicyDecision["obligations"];
    explain: PolicyDecision["explain"];
  };
  error?: { code: string; message: string };
}

export interface PlaygroundResult {
  input: PolicyInput;
  active: SideResult | { busy: true };
  /** Absent when no shadow bundle is loaded. */
  shadow?: SideResult | { busy: true };
}

export function playgroundInput(request: PlaygroundRequest, nowMs: number): PolicyInput {
  const now = Math.floor(nowMs / 1000);
  const p = request.principal;
  const actors = (p.actors ?? []).map(actorEntry);
  return {
    action: request.action,
    resource: { type: request.resource.type, id: request.resource.id, attributes: request.resource.attributes ?? {} },
    context: request.context ?? {},
    principal: {
      subject: p.subject,
      client_id: p.client_id,
      client_type: (p.client_type ?? "").trim().toLowerCase(),
      actors,
      delegation_depth: actors.length,
      scopes: p.scopes ?? [],
      ...(p.acr !== undefined ? { acr: p.acr } : {}),
      ...(p.auth_time !== undefined ? { auth_time: p.auth_time } : {}),
      issuer: p.issuer ?? "urn:verdict:console-playground",
      expires_at: now + 3_600,
      issued_at: now,
    },
    caller: request.caller ?? { api: "console-playground", audience: "urn:verdict:console-playground" },
    state: request.state ?? {},
    now,
  };
}

async function evaluate(engine: PolicyEngine, input: PolicyInput): Promise<SideResult | { busy: true }> {
  if (!engine.hasIdleWorker()) return { busy: true };
  const result: SideResult = { revision: engine.revision };
  try {
    result.state_queries = await engine.stateQueries({ ...input, state: {} });
    const d = await engine.decide(input);
    result.decision = {
      effect: d.effect,
      reasons: d.reasons,
      required_scopes: d.requiredScopes,
      ...(d.stepUp ? { step_up: d.stepUp } : {}),
      obligations: d.obligations,
      explain: d.explain,
    };
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    result.error = { code: error.code, message: error.message };
  }
  return result;
}

export async function runPlayground(policies: PolicyRuntime, request: PlaygroundRequest, nowMs: number): Promise<PlaygroundResult> {
  const input = playgroundInput(request, nowMs);
  const shadowEngine = policies.shadow();
  const [active, shadow] = await Promise.all([evaluate(policies.current(), input), shadowEngine ? evaluate(shadowEngine, input) : undefined]);
  return { input, active, ...(shadow ? { shadow } : {}) };
}
