// The AuthZEN wire shapes (after schema validation) and what the listener knows
// about the PEP that is calling.
import type { AuthzenApiConfig } from "./config.js";
import type { Caller } from "../../decide/index.js";
import type { TraceContext } from "../../observability/index.js";

export type Properties = Record<string, unknown>;

export interface EntityBody {
  type: string;
  id: string;
  properties?: Properties;
}

export interface ActionBody {
  name: string;
  properties?: Properties;
}

export interface EvaluationBody {
  subject: EntityBody;
  action: ActionBody;
  resource: EntityBody;
  context?: Properties;
}

export type EvaluationsSemantic = "execute_all" | "deny_on_first_deny" | "permit_on_first_permit";

export interface EvaluationsBody {
  subject?: EntityBody;
  action?: ActionBody;
  resource?: EntityBody;
  context?: Properties;
  evaluations?: unknown[];
  options?: { evaluations_semantic?: EvaluationsSemantic };
}

export interface PageBody {
  token?: string;
  limit?: number;
}

export interface SearchBody {
  subject: { type: string; id?: unknown; properties?: Properties };
  action?: ActionBody;
  resource: { type: string; id?: unknown; properties?: Properties };
  context?: Properties;
  page?: PageBody;
}

export interface DecisionBody {
  decision: boolean;
  context?: Record<string, unknown>;
}

/** The authenticated PEP: the registered API, and how it may use AuthZEN. */
export interface Pep {
  caller: Caller;
  settings: AuthzenApiConfig;
}

/** One HTTP request's own facts that each of its decisions carries: its X-Request-ID and its span, when tracing. */
export interface EdgeCall {
  requestId: string;
  trace?: TraceContext;
}
