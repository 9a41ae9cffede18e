// The policy section of the configuration: the bundles, shadow evaluation and the evaluation bounds.
import { z } from "zod";
import { filePath, type ConfigContext } from "../config/fields.js";
import { defaultBundlePath } from "../paths.js";

export const policySettings = (ctx: ConfigContext) => ({
  bundle: filePath(ctx).default(defaultBundlePath),
  /** Reload the bundles when their files change. */
  bundle_watch: z.boolean().default(true),
  /** A candidate bundle evaluated beside the active one; its answers are recorded, never given. */
  shadow_bundle: filePath(ctx).optional(),
  shadow_wait_ms: z.number().int().min(0).max(1_000).default(5),
  shadow_retention_days: z.number().int().min(1).max(365).default(7),
  policy_timeout_ms: z.number().int().min(1).max(60_000).default(250),
  /** How long a decision may wait for its first evaluation to start before it is refused as overloaded (retry later). */
  policy_queue_timeout_ms: z.number().int().min(1).max(60_000).default(5_000),
  policy_memory_mb: z.number().int().min(1).max(4_096).default(64),
  /** Evaluation workers per process: "auto" is this process's share of the CPUs (CPUs / processes), at least 1, at most 2. */
  policy_workers: z.union([z.literal("auto"), z.number().int().min(1).max(64)]).default("auto"),
});
