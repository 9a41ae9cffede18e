// The console section of the configuration (docs/console.md): whether the admin
// listener serves the web console and its JSON API, and the audience its tokens need.
import { z } from "zod";
import type { ConfigContext } from "../../../config/fields.js";

/** What each console scope lets an operator do; a token carries only those it needs. */
export const CONSOLE_SCOPES = {
  /** The decision trail, agents and their users. */
  read: "console:read",
  /** Approve or refuse pending approvals (with the approver's own acr and freshness). */
  approve: "console:approve",
  /** Suspend and resume agents. */
  suspend: "console:suspend",
  /** Evaluate inputs in the policy playground (no state is written). */
  evaluate: "console:evaluate",
} as const;

export type ConsoleScope = (typeof CONSOLE_SCOPES)[keyof typeof CONSOLE_SCOPES];

export const consoleSettings = (ctx: ConfigContext) => ({
  console: z
    .object({
      /** On by default in the development profile only: production turns it on explicitly. */
      enabled: z.boolean().default(ctx.profile === "dev"),
      /** The `aud` a console token must carry: not an API's, so a Check token is never a console session. */
      audience: z.string().min(1).max(512).default("urn:verdict:console"),
    })
    .strict()
    .prefault({}),
});

export type ConsoleConfig = z.output<ReturnType<typeof consoleSettings>["console"]>;
