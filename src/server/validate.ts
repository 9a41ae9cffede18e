// The edge: a raw CheckRequest becomes a typed, bounded CheckInput here, once.
// Nothing deeper re-checks or trusts raw protobuf values.
import { randomUUID } from "node:crypto";
import {
  isJsonObject,
  type BatchItemMessage,
  type CheckBatchRequestMessage,
  type CheckRequestMessage,
  type JsonObject,
  type ReleaseRequestMessage,
} from "@verdict/sdk/wire";
import { APPROVAL_ID } from "../contract/index.js";
import { VerdictError } from "../errors/index.js";
import type { BatchInput, CheckCommon, CheckInput, CheckItem } from "../decide/index.js";

export class InvalidArgumentError extends VerdictError {
  constructor(message: string) {
    super("invalid_argument", message);
  }
}

export const LIMITS = {
  actionPattern: /^[A-Za-z0-9][A-Za-z0-9:._/-]{0,127}$/,
  resourceTypePattern: /^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/,
  maxResourceIdLength: 256,
  maxRequestIdLength: 128,
  maxDepth: 8,
  maxNodes: 2_000,
  maxKeyLength: 256,
  maxStringLength: 8_192,
  maxDpopProofLength: 8_192,
  maxUrlLength: 2_048,
  /** Default of max_context_bytes: context, and resource.attributes, each at most this as JSON. */
  maxContextBytes: 32_768,
} as const;

export interface EdgeLimits {
  /** context and resource.attributes, each, as UTF-8 JSON (configuration max_context_bytes). */
  maxContextBytes: number;
}

export const DEFAULT_EDGE_LIMITS: EdgeLimits = { maxContextBytes: LIMITS.maxContextBytes };

// eslint-disable-next-line no-control-regex -- it looks for control characters, to refuse them
const CONTROL = /[\u0000-\u001f\u007f]/;

export type ValidatedCheck = Omit<CheckInput, "caller">;
export type ValidatedBatch = Omit<BatchInput, "caller">;

export function validateCheckRequest(request: CheckRequestMessage, limits: EdgeLimits = DEFAULT_EDGE_LIMITS): ValidatedCheck {
  return { ...validateCommon(request), ...validateItem(request, limits) };
}

/** The batch as a whole must be valid; each item is judged on its own. */
export function validateBatchRequest(request: CheckBatchRequestMessage, maxItems: number, limits: EdgeLimits = DEFAULT_EDGE_LIMITS): ValidatedBatch {
  const items = request.items ?? [];
  if (items.length === 0) throw new InvalidArgumentError("items must hold at least one (action, resource, context)");
  if (items.length > maxItems) throw new InvalidArgumentError(`a batch holds at most ${maxItems} items`);
  return {
    ...validateCommon(request),
    items: items.map((item) => {
      try {
        return { ok: true as const, item: validateItem(item, limits) };
      } catch (error) {
        if (!(error instanceof InvalidArgumentError)) throw error;
        return { ok: false as const, error: error.message };
      }
    }),
  };
}

function validateCommon(request: CheckRequestMessage | CheckBatchRequestMessage): Omit<CheckCommon, "caller"> {
  const requestId = request.request_id ?? "";
  if (requestId.length > LIMITS.maxRequestIdLength || !/^[\x21-\x7e]*$/.test(requestId)) {
    throw new InvalidArgumentError(`request_id must be at most ${LIMITS.maxRequestIdLength} printable ASCII characters`);
  }
  const dpop = validateDpop(request);
  return {
    token: request.token ?? "",
    // Every decision can be found by its request id in logs and the audit trail: one is made up when the caller sends none.
    requestId: requestId === "" ? randomUUID() : requestId,
    dryRun: request.dry_run === true,
    explain: "explain" in request && request.explain === true,
    ...(dpop ? { dpop } : {}),
  };
}

function validateItem(request: BatchItemMessage, limits: EdgeLimits): CheckItem {
  const action = request.action ?? "";
  if (action === "") throw new InvalidArgumentError("action is required, e.g. invoices:read");
  if (!LIMITS.actionPattern.test(action)) {
    throw new InvalidArgumentError("action must be 1-128 characters: letters, digits and : . _ / - (starting with a letter or digit)");
  }
  const resource = request.resource;
  if (!resource || !resource.type) throw new InvalidArgumentError("resource.type is required, e.g. invoice");
  if (!LIMITS.resourceTypePattern.test(resource.type)) {
    throw new InvalidArgumentError("resource.type must be 1-64 characters: letters, digits and : . _ -");
  }
  const id = resource.id ?? "";
  if (id.length > LIMITS.maxResourceIdLength || CONTROL.test(id)) {
    throw new InvalidArgumentError(`resource.id must be at most ${LIMITS.maxResourceIdLength} characters, without control characters`);
  }
  const approvalId = request.approval_id ?? "";
  if (approvalId !== "" && !APPROVAL_ID.test(approvalId))
    throw new InvalidArgumentError("approval_id must be an approval id Verdict gave out (a lowercase UUID)");
  const attributes = boundedObject(resource.attributes, "resource.attributes", limits);
  const context = boundedObject(request.context, "context", limits);
  return {
    action,
    resource: { type: resource.type, id, attributes: attributes.value },
    context: context.value,
    bytes: attributes.bytes + context.bytes,
    ...(approvalId !== "" ? { approvalId } : {}),
  };
}

function validateDpop(request: CheckRequestMessage | CheckBatchRequestMessage): CheckCommon["dpop"] {
  const dpop = request.dpop;
  if (!dpop || (!dpop.proof && !dpop.method && !dpop.url)) return undefined;
  if (!dpop.proof || dpop.proof.length > LIMITS.maxDpopProofLength || !/^[A-Za-z0-9_.-]+$/.test(dpop.proof)) {
    throw new InvalidArgumentError(`dpop.proof must be a compact JWS of at most ${LIMITS.maxDpopProofLength} characters`);
  }
  if (!/^[A-Z]{1,16}$/.test(dpop.method ?? "")) throw new InvalidArgumentError("dpop.method must be the request's HTTP method, e.g. POST");
  let url: URL | undefined;
  try {
    url = dpop.url && dpop.url.length <= LIMITS.maxUrlLength ? new URL(dpop.url) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
    throw new InvalidArgumentError(`dpop.url must be the request's absolute http(s) URL, at most ${LIMITS.maxUrlLength} characters`);
  }
  return { proof: dpop.proof, method: dpop.method, url: dpop.url };
}

/**
 * A Struct as decoded (a plain object, or absent: {}), checked against the bounds,
 * and an upper bound of its size as UTF-8 JSON (bytes, not only counts: every
 * decision's context is held until its audit record is written, so its size is
 * what bounds memory when the database is slow). The bound is counted on the walk
 * (a character is at most 6 bytes as escaped JSON); only a value whose bound is over
 * the limit is serialised to be measured exactly. The console's playground holds its
 * inputs to the same bounds.
 */
export function boundedObject(struct: unknown, where: string, limits: EdgeLimits): { value: JsonObject; bytes: number } {
  const value = struct ?? {};
  if (!isJsonObject(value)) throw new InvalidArgumentError(`${where} must be an object`);
  let nodes = 0;
  let bound = 0;
  // The path of a node is only spelled out for an error message.
  const at = (parent: () => string, step: string | number) => () => `${parent()}${typeof step === "number" ? `[${step}]` : `.${step}`}`;
  const visit = (node: unknown, path: () => string, depth: number) => {
    if (++nodes > LIMITS.maxNodes) throw new InvalidArgumentError(`${where} has more than ${LIMITS.maxNodes} values`);
    if (depth > LIMITS.maxDepth) throw new InvalidArgumentError(`${where} is nested deeper than ${LIMITS.maxDepth} levels (at ${path()})`);
    if (typeof node === "string") {
      if (node.length > LIMITS.maxStringLength) throw new InvalidArgumentError(`${path()} is longer than ${LIMITS.maxStringLength} characters`);
      bound += 6 * node.length + 3;
    } else if (Array.isArray(node)) {
      bound += 2;
      node.forEach((item, i) => visit(item, at(path, i), depth + 1));
    } else if (node !== null && typeof node === "object") {
      bound += 2;
      for (const [key, item] of Object.entries(node)) {
        if (key.length === 0 || key.length > LIMITS.maxKeyLength || CONTROL.test(key)) {
          throw new InvalidArgumentError(`${path()} has a key that is empty, longer than ${LIMITS.maxKeyLength} characters or has control characters`);
        }
        // Refused as AuthZEN's JSON refuses it: copied by assignment, it would set a prototype rather than be a member.
        if (key === "__proto__") throw new InvalidArgumentError(`${path()} has the key __proto__, which Verdict does not accept`);
        bound += 6 * key.length + 4;
        visit(item, at(path, key), depth + 1);
      }
    } else if (typeof node === "number" && !Number.isFinite(node)) {
      // Protobuf's number_value carries NaN and ±Infinity; JSON has no such numbers (the policy would see null).
      throw new InvalidArgumentError(`${path()} is not a finite number`);
    } else bound += 25; // a number, true, false, null, and a comma
  };
  visit(value, () => where, 0);
  if (bound <= limits.maxContextBytes) return { value, bytes: bound };
  const bytes = Buffer.byteLength(JSON.stringify(value), "utf8");
  if (bytes > limits.maxContextBytes) {
    throw new InvalidArgumentError(`${where} is larger than ${limits.maxContextBytes} bytes as JSON (max_context_bytes)`);
  }
  return { value, bytes };
}

const DECISION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function validateReleaseRequest(request: ReleaseRequestMessage): string {
  const id = request.decision_id ?? "";
  if (!DECISION_ID.test(id)) throw new InvalidArgumentError("decision_id must be the decision_id of an earlier CheckResponse (a UUID)");
  return id;
}
