export {
  AUDIT_EVENT_KINDS,
  buildEventRecord,
  publicEvent,
  type AuditEvent,
  type AuditEventActor,
  type AuditEventKind,
  type AuditEventRecord,
  type AuditEventVia,
  type EventRecord,
} from "./events.js";
export { escapeKey, unescapeKey, unescapeObject } from "./keys.js";
export {
  containsCardNumber,
  containsJwtLike,
  isCardNumberValue,
  MASKED,
  maskRulesFrom,
  MaskRuleError,
  NO_MASKING,
  redactObject,
  redactResourceId,
  redactText,
  type MaskAction,
  type MaskRules,
} from "./mask.js";
export {
  AuditQueryError,
  DEFAULT_LIMIT,
  findOf,
  MAX_LIMIT,
  pageTokenAfter,
  parseAuditQuery,
  parseTime,
  RECORD_KINDS,
  type AuditQuery,
  type AuditQueryRequest,
  type RecordKind,
} from "./query.js";
export {
  buildRecord,
  fromSpillLine,
  isAuditEvent,
  isEventRecord,
  publicEntry,
  publicRecord,
  RECORD_DECISIONS,
  toSpillLine,
  type AuditRecord,
  type DecisionRecord,
  type RecordDecision,
  type TrailEntry,
  type TrailRecord,
} from "./record.js";
export { secureSpillRoot, SpillDirectory, SpillDirectoryError, type SpillChunk } from "./spill.js";
export { AuditStore, AuditStoreUnavailableError, DECISIONS, INDEXES, type WriteOutcome } from "./store.js";
export { AuditLog, type AuditLogOptions, type AuditSettings, type AuditStats } from "./writer.js";
export { MAX_DISTINCT_COUNTED, MAX_REQUESTS, MAX_TOKENS, REFUSAL_WINDOW_MS, RefusalTally } from "./refusals.js";
export { EventRepeats, MAX_EVENT_KEYS } from "./repeats.js";
export { auditSchema, type AuditConfig } from "./config.js";
export { openAuditLog, type OpenAuditOptions } from "./open.js";
