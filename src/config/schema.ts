// The configuration file's shape (YAML or JSON, snake_case keys), composed from the
// sections each module owns; validated once at start. Its output type is the
// Config everything else reads.
import { z } from "zod";
import { approvalsSchema } from "../approvals/config.js";
import { auditSchema } from "../audit/config.js";
import { authzenSettings, checkAuthzen } from "../server/authzen/config.js";
import { consoleSettings } from "../server/admin/console/config.js";
import { logSettings, checkLogLevel } from "../observability/config.js";
import { policySettings } from "../policy/config.js";
import { checkServer, serverSettings } from "../server/config.js";
import { checkMongoUri, resolveMongoUri, stateSettings } from "../state/config.js";
import { ssfSchema } from "../ssf/config.js";
import { suspensionsSchema } from "../suspensions/config.js";
import { checkIssuers, tokenSettings } from "../token/config.js";
import { ALWAYS, entries, type ConfigContext } from "./fields.js";

export const configSchema = (ctx: ConfigContext) =>
  z
    .object({
      ...serverSettings(ctx),
      ...tokenSettings(ctx),
      ...policySettings(ctx),
      ...stateSettings(ctx),
      ...logSettings(ctx),
      audit: auditSchema(ctx),
      suspensions: suspensionsSchema(),
      ssf: ssfSchema(ctx),
      approvals: approvalsSchema(ctx),
      ...authzenSettings(ctx),
      ...consoleSettings(ctx),
    })
    .strict()
    .superRefine((value, check) => {
      if (typeof value !== "object" || value === null) return; // reported as such already
      checkServer(value, check, ctx.profile);
      checkIssuers(value, check);
      checkAuthzen(value, check);
      checkGrants(value, check);
      checkLogLevel(ctx, check);
      checkMongoUri(value, check);
    }, ALWAYS)
    .transform((value) => resolveMongoUri(value, ctx));

/** Audit grants name configured APIs only. */
function checkGrants(value: Record<string, unknown>, check: z.RefinementCtx): void {
  const audit = value["audit"];
  const grants = typeof audit === "object" && audit !== null && "query_grants" in audit ? audit.query_grants : undefined;
  if (typeof grants !== "object" || grants === null) return;
  const names = new Set(entries(value["apis"]).map((api) => api["name"]));
  for (const [grantee, apis] of Object.entries(grants)) {
    const granted: unknown[] = Array.isArray(apis) ? apis : [];
    for (const name of [grantee, ...granted]) {
      if (name !== "*" && !names.has(name)) {
        check.addIssue({ code: "custom", path: ["audit", "query_grants", grantee], message: `audit.query_grants names ${String(name)}, which is not in apis` });
      }
    }
  }
}

/** A configuration as written (every default optional): what a file or a profile holds. */
export type ConfigFile = z.input<ReturnType<typeof configSchema>>;

/** The one validated configuration; `profile` is "dev" only through `--profile dev`. */
export type Config = z.output<ReturnType<typeof configSchema>> & { profile: "production" | "dev" };
