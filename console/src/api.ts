// The console's one door to Verdict: fetch on /console/api with the operator's
// bearer token. The token is kept in this tab's sessionStorage only (gone when the
// tab closes), sent in the Authorization header only, never in a URL.
import { printable } from "./printable.js";

const TOKEN_KEY = "verdict.console.token";
const BASE = "/console/api";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
  /**
   * The operator's token is missing, expired or refused (401 unauthenticated): the page shows the sign-in prompt.
   * Not another token refused (an approver's, 401 invalid_token or approval_authentication_insufficient).
   */
  get needsSignIn(): boolean {
    return this.status === 401 && this.code === "unauthenticated";
  }
  /** The token is good but lacks the scope this route needs (403 insufficient_scope): the operator stays signed in. */
  get lacksScope(): boolean {
    return this.status === 403 && this.reason === "insufficient_scope";
  }
}

/**
 * What a page says when a request failed: a missing scope as such (the server's message names the scope);
 * printable, as a message may quote what a request or a token carried.
 */
export function problemOf(error: unknown): string {
  if (!(error instanceof ApiError)) return "Verdict did not answer.";
  if (error.lacksScope) return printable(`Your token does not allow this: ${error.message}. You are still signed in.`);
  return printable(error.message);
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signIn(value: string): void {
  sessionStorage.setItem(TOKEN_KEY, value.trim());
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

type Listener = (error: ApiError) => void;
let onAuthFailure: Listener = () => undefined;
/** Called when any request is refused for its token, not for a missing scope (the app shows the sign-in prompt). */
export function whenSignInNeeded(listener: Listener): void {
  onAuthFailure = listener;
}

export async function request<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  const bearer = token();
  if (bearer) headers["authorization"] = `Bearer ${bearer}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(BASE + path, {
    method,
    headers,
    credentials: "omit",
    cache: "no-store",
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { error: "invalid_response", message: text.slice(0, 200) };
  }
  if (!response.ok) {
    const { error, message, reason } = json as { error?: string; message?: string; reason?: string };
    const failure = new ApiError(response.status, error ?? "error", message ?? response.statusText, reason);
    if (failure.needsSignIn) onAuthFailure(failure);
    throw failure;
  }
  return json as T;
}

/** Query string from the filled-in fields only. */
export function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}

// --- what the pages read --------------------------------------------------------

export type Decision = "ALLOW" | "DENY" | "STEP_UP" | "ERROR";
export type Counts = Record<Decision, number>;

export interface Reason {
  code: string;
  message: string;
}

export interface DecisionRecord {
  decision_id: string;
  time: string;
  caller: { api: string; audience: string };
  subject?: string;
  client_id?: string;
  client_type?: string;
  issuer?: string;
  scopes?: string[];
  acr?: string;
  actors: { subject: string; client_id?: string; iss?: string }[];
  action: string;
  resource: { type: string; id: string; attributes: Record<string, unknown> };
  context: Record<string, unknown>;
  decision: Decision;
  reasons: Reason[];
  challenge?: Record<string, unknown>;
  obligations: Record<string, unknown>[];
  policy_revision: string;
  shadow?: { revision: string; effect: string; reasons: Reason[]; agrees: boolean };
  latency_ms: number;
  request_id: string;
  dry_run: boolean;
}

export interface Session {
  operator: { subject: string; client_id: string; issuer: string; acr?: string; scopes: string[] };
  features: { audit: boolean; shadow: boolean; suspensions: boolean; approvals: boolean };
}

export interface Stats {
  from: string;
  to: string;
  bucket_ms: number;
  series: ({ t: string } & Counts)[];
  top_reasons: { code: string; count: number }[];
  agents: ({ client_id: string; total: number } & Counts)[];
  sampled: number;
  truncated: boolean;
}

export interface AgentSummary {
  client_id: string;
  client_type: string;
  users: string[];
  user_count: number;
  apis: string[];
  last_seen: string;
  counts: Counts;
}

export interface CounterUse {
  type: string;
  key: string;
  window: string;
  total: number;
  limit: number;
  as_of: string;
}

export interface Suspension {
  id: string;
  kind: string;
  client_id?: string;
  subject?: string;
  reason: string;
  source: string;
  since: string;
  until?: string;
}

export type Filters = Partial<Record<"subject" | "agent" | "action" | "decision" | "reason" | "api" | "since" | "until", string>>;

export const api = {
  config: () => request<{ dev_sign_in: boolean; audience: string; scopes: string[] }>("GET", "/config"),
  devSignIn: () => request<{ access_token: string; expires_in: number }>("POST", "/dev-sign-in", {}),
  session: () => request<Session>("GET", "/session"),
  decisions: (filters: Filters, pageToken?: string) =>
    request<{ decisions: DecisionRecord[]; next_page_token?: string }>("GET", `/decisions${query({ ...filters, page_token: pageToken })}`),
  decision: (id: string) => request<{ decision: DecisionRecord }>("GET", `/decisions/${encodeURIComponent(id)}`),
  stats: (filters: Filters) => request<Stats>("GET", `/stats${query(filters)}`),
  agents: (since?: string) =>
    request<{ agents: AgentSummary[]; sampled: number; truncated: boolean; suspensions?: Suspension[] }>("GET", `/agents${query({ since })}`),
  agent: (clientId: string) =>
    request<{ agent: AgentSummary | null; recent: DecisionRecord[]; usage: CounterUse[] }>("GET", `/agents/${encodeURIComponent(clientId)}`),
  playground: (input: unknown) => request<PlaygroundResult>("POST", "/playground", input),
};

export interface SideResult {
  revision: string;
  state_queries?: unknown[];
  decision?: {
    effect: string;
    reasons: Reason[];
    required_scopes: string[];
    step_up?: Record<string, unknown>;
    obligations: Record<string, unknown>[];
    explain: { kind: string; rule: string; code: string; message: string }[];
  };
  error?: { code: string; message: string };
  busy?: true;
}

export interface PlaygroundResult {
  input: unknown;
  active: SideResult;
  shadow?: SideResult;
}
