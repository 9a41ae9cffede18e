// What a suspension is about, shared by the suspensions stage (src/suspensions),
// the `suspend` obligation type (src/obligations) and the edges: the principal
// named by kind, and the port through which a policy's obligation suspends one.

/** Which part of a principal a suspension stops. */
export type SuspensionKind = "agent" | "user" | "delegation" | "token" | "session";
export const SUSPENSION_KINDS: readonly SuspensionKind[] = ["agent", "user", "delegation", "token", "session"];

/**
 * Who is suspended. agent: client_id (every token of that client, also where it
 * acts in an act chain); user: subject; delegation: subject + client_id (the
 * user's delegation to that agent); token: its jti; session: its sid. issuer
 * absent: the identifiers under every trusted issuer.
 */
export interface SuspensionTarget {
  kind: SuspensionKind;
  issuer?: string;
  subject?: string;
  client_id?: string;
  token_id?: string;
  session_id?: string;
}

export type SuspendStatus = "suspended" | "extended" | "already_suspended";

/** What a policy's `suspend` obligation asks for: its principal's target, for a time. */
export interface PolicySuspension {
  target: SuspensionTarget;
  seconds: number;
  reason: string;
  /** The decision whose obligation it is, and the API that asked for it. */
  decisionId: string;
  api: string;
  nowMs: number;
}

/** How an obligation type suspends a principal (src/suspensions implements it). */
export interface SuspensionPort {
  suspend(request: PolicySuspension): Promise<SuspendStatus>;
}

/** The identifiers of the principal a decision is about, from which a suspend obligation names its target. */
export interface PrincipalIds {
  issuer: string;
  subject: string;
  client_id: string;
  token_id?: string;
  session_id?: string;
}
