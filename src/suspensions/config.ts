// The suspensions section of the configuration (docs/suspensions.md): how each
// replica follows the set, when its view counts as stale, and what it does then.
import { z } from "zod";

export const FOLLOW_MODES = ["auto", "change_stream", "poll"] as const;
export type FollowMode = (typeof FOLLOW_MODES)[number];

export const suspensionsSchema = () =>
  z
    .object({
      /** auto: a change stream where the server has them (a replica set), else the versioned poll. */
      follow: z.enum(FOLLOW_MODES).default("auto"),
      /** How often the version is read: in poll mode, the bound on propagation; with a change stream, a heartbeat and a safety net. */
      poll_interval_ms: z.number().int().min(50).max(5_000).default(250),
      /** Past this without a successful refresh the view is stale: counted, logged, and (when_stale) acted on. */
      stale_after_ms: z.number().int().min(1_000).max(600_000).default(5_000),
      /** enforce_known: keep enforcing every suspension the view holds; deny_all: deny every Check (state_unavailable) until it is fresh. */
      when_stale: z.enum(["enforce_known", "deny_all"]).default("enforce_known"),
    })
    .strict()
    .refine((value) => value.poll_interval_ms * 2 <= value.stale_after_ms, {
      message: "suspensions.stale_after_ms must be at least twice poll_interval_ms (a view is not stale between two polls)",
      path: ["stale_after_ms"],
    })
    .prefault({});

export type SuspensionsConfig = z.output<ReturnType<typeof suspensionsSchema>>;
