// The edge: a raw CheckRequest becomes a typed, bounded CheckInput here, once.
// Nothing deeper re-checks or trusts raw protobuf values.
import { fromStruct, type CheckRequestMessage, type JsonObject, type JsonValue, type StructMessage } from "@verdict/sdk/wire";
import type { CheckInput } from "../decide/index.js";

export class InvalidArgumentError extends Error {
  readonly code = "invalid_argument";
  constructor(message: string) {
    super(message);
    this.name = "InvalidArgumentError";
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
} as const;

const CONTROL = /[\u0000-\u001f\u007f]/;

export type ValidatedCheck = Omit<CheckInput, "caller">;

export function validateCheckRequest(request: CheckRequestMessage): ValidatedCheck {
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
  const requestId = request.request_id ?? "";
  if (requestId.length > LIMITS.maxRequestIdLength || !/^[\x21-\x7e]*$/.test(requestId)) {
    throw new InvalidArgumentError(`request_id must be at most ${LIMITS.maxRequestIdLength} printable ASCII characters`);
  }
  return {
    token: request.token ?? "",
    action,
    resource: { type: resource.type, id, attributes: boundedObject(resource.attributes, "resource.attributes") },
    context: boundedObject(request.context, "context"),
    requestId,
    dryRun: request.dry_run === true,
    explain: request.explain === true,
  };
}

function boundedObject(struct: StructMessage | null | undefined, where: string): JsonObject {
  const value = fromStruct(struct);
  let nodes = 0;
  const visit = (node: JsonValue, path: string, depth: number) => {
    if (++nodes > LIMITS.maxNodes) throw new InvalidArgumentError(`${where} has more than ${LIMITS.maxNodes} values`);
    if (depth > LIMITS.maxDepth) throw new InvalidArgumentError(`${where} is nested deeper than ${LIMITS.maxDepth} levels (at ${path})`);
    if (typeof node === "string" && node.length > LIMITS.maxStringLength) {
      throw new InvalidArgumentError(`${path} is longer than ${LIMITS.maxStringLength} characters`);
    }
    if (Array.isArray(node)) node.forEach((item, i) => visit(item, `${path}[${i}]`, depth + 1));
    else if (node !== null && typeof node === "object") {
      for (const [key, item] of Object.entries(node)) {
        if (key.length === 0 || key.length > LIMITS.maxKeyLength || CONTROL.test(key)) {
          throw new InvalidArgumentError(`${path} has a key that is empty, longer than ${LIMITS.maxKeyLength} characters or has control characters`);
        }
        visit(item, `${path}.${key}`, depth + 1);
      }
    }
  };
  visit(value, where, 0);
  return value;
}
