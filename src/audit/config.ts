// The audit section of the configuration (docs/audit.md): every decision is a
// record in the `decisions` collection.
import { join } from "node:path";
import { z } from "zod";
import { apiName as apiNameField, filePath, stateDirFrom, type ConfigContext } from "../config/fields.js";

const apiName = apiNameField("API names: letters, digits, '.', '_' or '-', at most 64");

export const auditSchema = (ctx: ConfigContext) =>
  z
    .object({
      /** Off only by an explicit `enabled: false`, which is logged loudly at start. */
      enabled: z.boolean().default(true),
      retention_days: z.number().int().min(1).max(36_500).default(90),
      /** Where records go while the database is unavailable. */
      spill_dir: filePath(ctx).default(join(stateDirFrom(ctx.env), "audit-spill")),
      batch_size: z.number().int().min(1).max(10_000).default(500),
      flush_interval_ms: z.number().int().min(1).max(60_000).default(200),
      max_buffered: z.number().int().min(1).max(1_000_000).default(10_000),
      /** The same buffer bounded in bytes (records as JSON), whichever limit comes first. */
      max_buffered_bytes: z.number().int().min(1_048_576).max(4_294_967_296).default(67_108_864),
      write_timeout_ms: z.number().int().min(50).max(120_000).default(5_000),
      retry_interval_ms: z.number().int().min(50).max(600_000).default(2_000),
      purge_interval_ms: z.number().int().min(1_000).max(86_400_000).default(3_600_000),
      /** API name -> the other APIs whose records it may read through AuditService ("*": all). */
      query_grants: z.record(apiName, z.array(z.union([apiName, z.literal("*")])).min(1)).default({}),
    })
    .strict()
    .prefault({});

export type AuditConfig = z.output<ReturnType<typeof auditSchema>>;
