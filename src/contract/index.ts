// The contract shared by policy/, obligations/, state/ and decide/: obligation and
// state-query types, shadow records, suspension targets, and the ports through
// which obligation types touch state. A leaf: it imports nothing else from src.
export { APPROVAL_ID, DEFAULT_APPROVAL_SECONDS, MAX_APPROVAL_SECONDS, type ApprovalRequirement, type Approver } from "./approval.js";
export { storageKey } from "./keys.js";
export type {
  AppliedObligation,
  CounterPort,
  Holder,
  Holding,
  HoldingStore,
  ObligationBase,
  ObligationFailure,
  ObligationFields,
  ObligationPorts,
  ObligationShown,
  OncePort,
  Reservation,
  ReserveAt,
  StepUp,
} from "./obligation.js";
export type { Difference, Disagreement, DisagreementRecorder, Effect, FieldChange, PolicyVerdict } from "./shadow.js";
export type { StateQuery, StateReader } from "./state.js";
export {
  SUSPENSION_KINDS,
  type PolicySuspension,
  type PrincipalIds,
  type SuspendStatus,
  type SuspensionKind,
  type SuspensionPort,
  type SuspensionTarget,
} from "./suspension.js";
export { windowLabel, type WindowSpec } from "./window.js";
