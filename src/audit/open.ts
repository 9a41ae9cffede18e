// Builds the audit trail of a serving Verdict from its configuration.
import { join } from "node:path";
import type { AuditConfig } from "./config.js";
import type { Database } from "../database/index.js";
import type { Logger } from "../observability/index.js";
import { secureSpillRoot, SpillDirectory } from "./spill.js";
import { AuditStore } from "./store.js";
import { AuditLog } from "./writer.js";

export interface OpenAuditOptions {
  config: AuditConfig;
  /** The process's database (shared with state); the trail closes nothing of it. */
  database: Database;
  log: Logger;
  now?: () => number;
}

/**
 * Opens the store, the spill directory (created now: a Verdict that could not
 * spill refuses to start rather than lose records later) and the writer, and
 * starts it.
 */
export function openAuditLog({ config, database, log, now }: OpenAuditOptions): { audit: AuditLog; store: AuditStore } {
  // One subdirectory per database, so that records are never replayed into
  // another deployment's trail.
  const rootNotices = secureSpillRoot(config.spill_dir);
  const spill = new SpillDirectory(join(config.spill_dir, database.name));
  for (const notice of [...rootNotices, ...spill.notices]) log.warn({ dir: spill.dir }, notice);
  const store = AuditStore.open(database, { timeoutMs: config.write_timeout_ms });
  const audit = new AuditLog({ store, spill, settings: config, log, ...(now ? { now } : {}) });
  audit.start();
  return { audit, store };
}
