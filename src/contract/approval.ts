// What a policy asks for when an action needs a person's yes (docs/approvals.md):
// shared by policy/ (which reads it from the decision), decide/ (which hands it to
// the approvals stage) and approvals/ (which keeps and uses approvals).
import type { JsonObject } from "@verdict/sdk/wire";

/** An approval's id as Verdict gives it out: a lowercase UUID. Anything else is refused at the edge. */
export const APPROVAL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Ten minutes, unless the policy says otherwise. */
export const DEFAULT_APPROVAL_SECONDS = 600;
/** An approval is for something happening now: at most a day. */
export const MAX_APPROVAL_SECONDS = 86_400;

/** Someone the policy names who may decide besides the user. */
export interface Approver {
  issuer: string;
  subject: string;
}

/** A decision's `approval`: what the person is asked to approve, and how they must prove themselves. */
export interface ApprovalRequirement {
  /** Top-level context fields bound to the approval by their canonical digest (amount, currency, destination, ...). */
  fields: string[];
  expiresInSeconds: number;
  /** The deciding token's acr must be one of these (none: any). */
  acrValues: string[];
  /** The deciding token's auth_time must be at most this many seconds old. */
  maxAge?: number;
  /** The deciding token must carry every one of these scopes (none: any scope the API knows). */
  scopes: string[];
  approvers: Approver[];
  /** RFC 9396: the authorization details the client may obtain from its authorization server instead. */
  authorizationDetails: JsonObject[];
}
