// What `verdict check` asks: from flags (one item), or from a file (--input FILE)
// holding a whole request in the wire's JSON names, without the token: one item
// ({action, resource, context}) is a Check, {items: [...]} a CheckBatch.
import { z } from "zod";
import { isJsonObject, jsonObject, type BatchItemMessage, type JsonObject } from "@verdict/sdk/wire";
import { UsageError } from "./args.js";
import { jsonObjectArgument, readJsonArgument } from "./json-args.js";

/** What the command sends, before the token and the call's options are added. */
export type CheckAsk =
  | { kind: "check"; item: BatchItemMessage; requestId?: string; dryRun?: boolean }
  | { kind: "batch"; items: BatchItemMessage[]; requestId?: string; dryRun?: boolean };

/** A JSON object a Struct can carry (the SDK's jsonObject: nested at most MAX_STRUCT_DEPTH levels, numbers finite). */
const object = z
  .custom<JsonObject>((value) => isJsonObject(value), "must be a JSON object")
  .superRefine((value, check) => {
    try {
      jsonObject(value, "the value");
    } catch (error) {
      check.addIssue({ code: "custom", message: (error as Error).message });
    }
  });

const item = z.strictObject({
  action: z.string().min(1),
  resource: z.strictObject({
    type: z.string().min(1),
    id: z.string(),
    attributes: object.optional(),
  }),
  context: object.optional(),
  /** The approval a retry names (docs/approvals.md). */
  approval_id: z.string().optional(),
});

const common = { request_id: z.string().optional(), dry_run: z.boolean().optional() };

const single = item.extend(common);
const batch = z.strictObject({ items: z.array(item).min(1), ...common });

/** The ask in a request file ("-": standard input), or a UsageError saying what does not fit and where. */
export function readCheckFile(path: string): CheckAsk {
  const { value } = readJsonArgument(path, "--input");
  if (!isJsonObject(value)) {
    throw new UsageError(`--input ${path} must hold one request {"action", "resource": {"type", "id", "attributes"}, "context"} or a batch {"items": [...]}`);
  }
  if ("token" in value) throw new UsageError(`--input ${path}: the token goes in --token, not in the file`);
  const parsed = "items" in value ? batch.safeParse(value) : single.safeParse(value);
  if (!parsed.success) throw new UsageError(`--input ${path} does not fit:\n${z.prettifyError(parsed.error)}`);
  const options = {
    ...(parsed.data.request_id !== undefined ? { requestId: parsed.data.request_id } : {}),
    ...(parsed.data.dry_run !== undefined ? { dryRun: parsed.data.dry_run } : {}),
  };
  if ("items" in parsed.data) return { kind: "batch", items: parsed.data.items.map(wireItem), ...options };
  return { kind: "check", item: wireItem(parsed.data), ...options };
}

function wireItem(i: z.infer<typeof item>): BatchItemMessage {
  return {
    action: i.action,
    resource: { type: i.resource.type, id: i.resource.id, attributes: i.resource.attributes ?? {} },
    context: i.context ?? {},
    approval_id: i.approval_id ?? "",
  };
}

/** One item from the flags: --action, --resource TYPE/ID, --context JSON, --resource-attributes JSON. */
export function checkFromFlags(action: string, resource: string, context: string | undefined, attributes: string | undefined): BatchItemMessage {
  const slash = resource.indexOf("/");
  if (slash <= 0) throw new UsageError("--resource must be TYPE/ID, e.g. invoice/inv-42");
  return {
    action,
    resource: {
      type: resource.slice(0, slash),
      id: resource.slice(slash + 1),
      attributes: jsonObjectArgument(attributes, "--resource-attributes", '{"classification": "pii"}'),
    },
    context: jsonObjectArgument(context, "--context", '{"amount": 100}'),
    approval_id: "",
  };
}
