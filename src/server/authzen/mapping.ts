// AuthZEN request -> the pipeline's request shape (CheckCommon + CheckItem), and a
// DecisionResult -> an AuthZEN decision. The pipeline never knows which edge asked.
import type { JsonObject } from "@verdict/sdk/wire";
import type { CheckCommon, CheckItem, DecisionResult } from "../../decide/index.js";
import {
  ACTION_NAME,
  ACTION_TYPE,
  boundedObject,
  entityKey,
  ENTITY_ID,
  ENTITY_TYPE,
  mergeProperties,
  PropertiesError,
  type DirectoryEntry,
  type EntityKey,
} from "../../directory/index.js";
import type { EdgeLimits } from "../validate.js";
import { AuthzenError } from "./errors.js";
import type { ActionBody, DecisionBody, EdgeCall, EntityBody, EvaluationBody, EvaluationsBody, Pep, Properties } from "./types.js";

/** One evaluation, checked against Verdict's bounds, with the user's token taken out of it. */
export interface Prepared {
  subject: { type: string; id: string; properties: JsonObject };
  action: { name: string; properties: JsonObject };
  resource: { type: string; id: string; properties: JsonObject };
  context: JsonObject;
  /** The access token the PEP forwarded ("" when none). */
  token: string;
}

export function checkType(type: string, where: string): string {
  if (!ENTITY_TYPE.test(type)) throw new AuthzenError("invalid_request", `${where} must be 1-64 characters: letters, digits and : . _ -`);
  return type;
}

export function checkId(id: string, where: string): string {
  if (!ENTITY_ID.test(id)) throw new AuthzenError("invalid_request", `${where} must be 1-256 characters without control characters`);
  return id;
}

export function checkActionName(value: string, where = "action.name"): string {
  if (!ACTION_NAME.test(value)) {
    throw new AuthzenError("invalid_request", `${where} must be 1-128 characters: letters, digits and : . _ / - (starting with a letter or digit)`);
  }
  return value;
}

/**
 * A free-form object of the request (context, properties) held to a Check's bounds: its shape (directory/properties.ts)
 * and, as the gRPC edge holds context and resource.attributes, max_context_bytes as JSON, each. An evaluation that
 * inherits the request's context is measured again, so a batch costs at most its items times the body it came in.
 */
export function bounded(value: Properties | undefined, where: string, limits: EdgeLimits): JsonObject {
  let object: JsonObject;
  try {
    object = boundedObject(value ?? {}, where);
  } catch (error) {
    if (error instanceof PropertiesError) throw new AuthzenError("invalid_request", error.message);
    throw error;
  }
  if (Object.keys(object).length > 0 && Buffer.byteLength(JSON.stringify(object), "utf8") > limits.maxContextBytes) {
    throw new AuthzenError("invalid_request", `${where} is larger than ${limits.maxContextBytes} bytes as JSON (max_context_bytes)`);
  }
  return object;
}

/**
 * Checks one evaluation (already schema-valid) and takes the user's access token out
 * of where the API's configuration says the PEP puts it, so that it reaches neither
 * the policy's properties nor the audit trail.
 */
export function prepare(body: EvaluationBody, pep: Pep, limits: EdgeLimits): Prepared {
  const subject = {
    type: checkType(body.subject.type, "subject.type"),
    id: checkId(body.subject.id, "subject.id"),
    properties: bounded(body.subject.properties, "subject.properties", limits),
  };
  const action = prepareAction(body.action, limits);
  const resource = prepareEntity(body.resource, "resource", limits);
  const context = bounded(body.context, "context", limits);
  const token = takeToken(pep, subject.properties, context);
  return {
    subject: { ...subject, properties: token.subjectProperties },
    action,
    resource,
    context: token.context,
    token: token.value,
  };
}

export function prepareEntity(entity: EntityBody, where: string, limits: EdgeLimits): Prepared["resource"] {
  return {
    type: checkType(entity.type, `${where}.type`),
    id: checkId(entity.id, `${where}.id`),
    properties: bounded(entity.properties, `${where}.properties`, limits),
  };
}

export function prepareAction(action: ActionBody, limits: EdgeLimits): Prepared["action"] {
  return { name: checkActionName(action.name), properties: bounded(action.properties, "action.properties", limits) };
}

export function takeToken(pep: Pep, subjectProperties: JsonObject, context: JsonObject): { value: string; subjectProperties: JsonObject; context: JsonObject } {
  const where = pep.settings.token;
  if (!where) return { value: "", subjectProperties, context };
  const holder = where.in === "subject.properties" ? subjectProperties : context;
  if (!Object.hasOwn(holder, where.property)) return { value: "", subjectProperties, context };
  const value = holder[where.property];
  if (typeof value !== "string") throw new AuthzenError("invalid_request", `${where.in}.${where.property} must be the user's access token, a string`);
  // Empty is not "no token": taken as absent, an API that may assert subjects would have its word decide for a
  // client that sent an empty credential (a PEP copying a header the client left empty).
  if (value === "")
    throw new AuthzenError("invalid_request", `${where.in}.${where.property} is empty: forward the user's access token, or leave the property out`);
  const { [where.property]: _token, ...rest } = holder;
  return where.in === "subject.properties" ? { value, subjectProperties: rest, context } : { value, subjectProperties, context: rest };
}

/**
 * A batch item that names its own context (or subject) replaces the request's whole, and with it the access token
 * the request forwarded there. Decided without it, the item would be the PEP's asserted subject (or token_missing)
 * although the PEP did forward a token: an error that says where the token must go instead. `merged` is the item
 * with the defaults applied: a holder it inherited is the request's own object.
 */
export function tokenLeftBehind(
  pep: Pep,
  request: Pick<EvaluationsBody, "subject" | "context">,
  merged: EvaluationBody,
  where: string,
): AuthzenError | undefined {
  const at = pep.settings.token;
  if (!at) return undefined;
  const [field, requestHolder, itemHolder, replaced] =
    at.in === "context"
      ? ["context", request.context, merged.context, merged.context !== request.context]
      : ["subject", request.subject?.properties, merged.subject.properties, merged.subject !== request.subject];
  if (!replaced || !requestHolder || !Object.hasOwn(requestHolder, at.property)) return undefined;
  if (itemHolder && Object.hasOwn(itemHolder, at.property)) return undefined;
  return new AuthzenError(
    "invalid_request",
    `${where}.${field} replaces the request's ${field}, and the access token with it: forward the token in the item's ${at.in}.${at.property} too`,
  );
}

/** The directory entries an evaluation needs. */
export function directoryKeys(p: Pick<Prepared, "subject" | "resource" | "action">): EntityKey[] {
  return [
    { kind: "subject", type: p.subject.type, id: p.subject.id },
    { kind: "resource", type: p.resource.type, id: p.resource.id },
    { kind: "action", type: ACTION_TYPE, id: p.action.name },
  ];
}

/**
 * The pipeline's item: the resource's attributes are its stored properties with the
 * request's over them; the AuthZEN entities go to the policy as `input.authzen`.
 * An action's stored properties describe its parameters and are not merged.
 */
export function toCheckItem(p: Omit<Prepared, "token">, known: ReadonlyMap<string, DirectoryEntry>): CheckItem {
  const storedSubject = known.get(entityKey({ kind: "subject", type: p.subject.type, id: p.subject.id }));
  const storedResource = known.get(entityKey({ kind: "resource", type: p.resource.type, id: p.resource.id }));
  const resourceProperties = mergeProperties(storedResource?.properties, p.resource.properties);
  return {
    action: p.action.name,
    resource: { type: p.resource.type, id: p.resource.id, attributes: resourceProperties },
    context: p.context,
    authzen: {
      subject: { ...p.subject, properties: mergeProperties(storedSubject?.properties, p.subject.properties), known: storedSubject !== undefined },
      resource: { ...p.resource, properties: resourceProperties, known: storedResource !== undefined },
      action: { ...p.action, known: known.has(entityKey({ kind: "action", type: ACTION_TYPE, id: p.action.name })) },
    },
  };
}

/** Who the items are for: the forwarded token (its sub must be the subject), else the subject itself. */
export function toCommon(pep: Pep, token: string, subjectId: string, call: EdgeCall, dryRun = false): CheckCommon {
  return { caller: pep.caller, token, requestId: call.requestId, dryRun, subject: subjectId, ...(call.trace ? { trace: call.trace } : {}) };
}

/** Items that share a principal can share one pipeline call. */
export function principalKey(token: string, subjectId: string): string {
  return token !== "" ? `token\u0000${token}\u0000${subjectId}` : `subject\u0000${subjectId}`;
}

/**
 * ALLOW is true; DENY and STEP_UP are false. With decision_context "reasons", a false
 * decision's context carries the reason codes and the challenge (for a step-up, the
 * acr_values and max_age the user must authenticate with; for a rate limit's
 * deny, retry_after_ms), and an allow that
 * reserved something carries the decision id that Release takes.
 */
export function toDecision(result: DecisionResult, pep: Pep): DecisionBody {
  const withContext = pep.settings.decision_context === "reasons";
  if (result.decision === "ALLOW") {
    return result.obligations.length > 0 && withContext ? { decision: true, context: { decision_id: result.decisionId } } : { decision: true };
  }
  if (!withContext) return { decision: false };
  const challenge = result.challenge;
  return {
    decision: false,
    context: {
      decision_id: result.decisionId,
      effect: result.decision === "STEP_UP" ? "step_up" : "deny",
      reasons: result.reasons.map((r) => ({ code: r.code, message: r.message })),
      ...(result.retryAfterMs !== undefined ? { retry_after_ms: result.retryAfterMs } : {}),
      ...(challenge
        ? {
            challenge: challenge.error,
            ...(challenge.scopes.length > 0 ? { scope: challenge.scopes.join(" ") } : {}),
            ...(challenge.acr_values.length > 0 ? { acr_values: challenge.acr_values.join(" ") } : {}),
            ...(challenge.max_age !== undefined ? { max_age: challenge.max_age } : {}),
          }
        : {}),
    },
  };
}

/** A batch item that could not be evaluated: false, with the error in its context (spec §Access Evaluations errors). */
export function itemError(error: AuthzenError, pep: Pep): DecisionBody {
  if (pep.settings.decision_context === "none") return { decision: false };
  return { decision: false, context: { error: { status: error.status, code: error.code, message: error.message } } };
}
