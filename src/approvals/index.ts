// Approvals kept by Verdict (docs/approvals.md): the stage that asks for and uses
// a person's yes to one exact request, the store it keeps them in, the webhook
// that tells someone to ask, and the configuration section.
export {
  Approvals,
  ApprovalScopeError,
  checkedApprovalId,
  REMIND_AFTER_MS,
  type ApiAudience,
  type ApprovalsOptions,
  type DecideInput,
  type EventSink,
} from "./approvals.js";
export { boundFields, differs, type Binding } from "./binding.js";
export { approvalsSchema, type ApprovalsConfig } from "./config.js";
export { APPROVAL_STATUSES, APPROVALS, ApprovalStore, statusAt, type ApprovalDoc, type ApprovalStatus, type ListFilter, type PendingOwner } from "./store.js";
export { viewOf, type ApprovalView } from "./view.js";
export { ApprovalWebhook, MAX_SENDING, MAX_WAITING, signature, SIGNATURE_HEADER, TIMESTAMP_HEADER, type WebhookOptions } from "./webhook.js";
