// The soak's steady mix: each step is one scenario of the demo policy whose answer
// is known in advance (allow, deny, step-up, and stateful: a reservation given back,
// an agent's rate, a single-use token used twice). A step whose answer is not the
// expected one, or whose call fails, is an error.
import type { Decision, VerdictClient } from "@verdict/sdk";
import type { TestIssuer } from "../test/support/issuer.js";

export interface StepOutcome {
  /** Calls made (a step may make two). */
  calls: number;
  /** Decisions Verdict made (each is one audit record). */
  decisions: number;
  /** What went wrong, if anything: "kind: what". */
  errors: string[];
  /** Budget this step reserved and did not give back (a release that failed). */
  held?: number;
}

export interface Workload {
  /** How each reserve_release step's Release was answered, by decision id (for the end's budget check). */
  releases: Map<string, string>;
  /** Runs the `n`th step on `primary` (and, for a release, `other`: the processes share one database). */
  step(n: number, primary: VerdictClient, other: VerdictClient): Promise<StepOutcome>;
}

/** What each reserve_release step reserves against its user's daily transfer limit. */
export const TRANSFER_AMOUNT = 5;

/** Users and agents the steps cycle through: the agents' rates (120 a minute each) stay far below their limits. */
const USERS = 50;
const AGENTS = 40;
const KINDS = ["allow", "deny", "step_up", "reserve_release", "agent_rate", "allow", "deny", "single_use"] as const;

function expectDecision(kind: string, decision: Decision, effect: Decision["decision"], code?: string): string[] {
  const got = `${decision.decision}${decision.reasons[0] ? ` ${decision.reasons[0].code}` : ""}`;
  const want = `${effect}${code ? ` ${code}` : ""}`;
  return got === want ? [] : [`${kind}: expected ${want}, got ${got}`];
}

export async function createWorkload(issuer: TestIssuer, validForSeconds: number): Promise<Workload> {
  const exp = Math.floor(Date.now() / 1000) + validForSeconds;
  const mint = (claims: Record<string, unknown>) => issuer.token({ exp, ...claims });
  const perUser = async (claims: (i: number) => Record<string, unknown>, count: number) =>
    Promise.all(Array.from({ length: count }, (_, i) => mint(claims(i))));
  const tokens = {
    reader: await perUser((i) => ({ sub: `soak-user-${i}`, client_type: "web", scope: "invoices:read" }), USERS),
    writer: await perUser((i) => ({ sub: `soak-user-${i}`, client_type: "web", scope: "invoices:read invoices:write" }), USERS),
    payer: await perUser((i) => ({ sub: `soak-user-${i}`, client_type: "web", scope: "payments:write" }), USERS),
    agent: await perUser((i) => ({ sub: `soak-user-${i}`, client_id: `soak-agent-${i}`, client_type: "ai-agent", scope: "invoices:read" }), AGENTS),
  };
  const pick = (list: string[], n: number) => list[n % list.length] as string;

  const releases = new Map<string, string>();
  return {
    releases,
    async step(n, primary, other) {
      const kind = KINDS[n % KINDS.length] as (typeof KINDS)[number];
      const user = Math.floor(n / KINDS.length);
      const invoice = { type: "invoice", id: `inv-${n % 1000}` };
      try {
        switch (kind) {
          case "allow": {
            const decision = await primary.check({ token: pick(tokens.reader, user), action: "invoices:read", resource: invoice });
            return { calls: 1, decisions: 1, errors: expectDecision(kind, decision, "ALLOW") };
          }
          case "deny": {
            const decision = await primary.check({ token: pick(tokens.reader, user), action: "invoices:dispute", resource: invoice });
            return { calls: 1, decisions: 1, errors: expectDecision(kind, decision, "DENY", "insufficient_scope") };
          }
          case "step_up": {
            const decision = await primary.check({ token: pick(tokens.writer, user), action: "invoices:dispute", resource: invoice });
            return { calls: 1, decisions: 1, errors: expectDecision(kind, decision, "STEP_UP", "step_up_required") };
          }
          case "reserve_release": {
            // a reservation against the user's daily limit, given back through the other process
            const decision = await primary.check({
              token: pick(tokens.payer, user),
              action: "payments:transfer",
              resource: { type: "account", id: `acc-${user % USERS}` },
              context: { amount: TRANSFER_AMOUNT },
            });
            const errors = expectDecision(kind, decision, "ALLOW");
            if (decision.decision !== "ALLOW") return { calls: 1, decisions: 1, errors };
            // already_released is a truthful answer to the SDK's retry of a release whose first answer was lost;
            // that the budget really came back is checked at the end, on the counters
            try {
              const released = await other.release(decision.decisionId);
              releases.set(decision.decisionId, released.status);
              if (released.status === "unknown_decision") errors.push(`${kind}: release answered unknown_decision`);
              return { calls: 2, decisions: 1, errors };
            } catch (error) {
              const code = (error as { code?: string }).code ?? "error";
              releases.set(decision.decisionId, code);
              return { calls: 2, decisions: 1, errors: [...errors, `${kind}: release ${code}: ${(error as Error).message}`], held: TRANSFER_AMOUNT };
            }
          }
          case "agent_rate": {
            const decision = await primary.check({ token: pick(tokens.agent, user), action: "invoices:read", resource: invoice });
            return { calls: 1, decisions: 1, errors: expectDecision(kind, decision, "ALLOW") };
          }
          case "single_use": {
            // a fresh single-use token: the first use is allowed, the replay (on the other process) is refused
            const now = Math.floor(Date.now() / 1000);
            const token = await issuer.token({
              sub: `soak-user-${user % USERS}`,
              client_type: "web",
              scope: "accounts:write",
              acr: "phr",
              auth_time: now,
              exp: now + 120,
            });
            const request = { token, action: "accounts:close", resource: { type: "account", id: `acc-${user % USERS}` } };
            const first = await primary.check(request);
            const replay = await other.check(request);
            // a first use that failed closed consumed nothing: the second is then the first use
            const second =
              first.decision === "ALLOW"
                ? expectDecision(`${kind} replay`, replay, "DENY", "token_replayed")
                : expectDecision(`${kind} after a refused first use`, replay, "ALLOW");
            return { calls: 2, decisions: 2, errors: [...expectDecision(kind, first, "ALLOW"), ...second] };
          }
        }
      } catch (error) {
        // no decision: the SDK's error (unavailable, deadline, malformed answer)
        const code = (error as { code?: string }).code ?? "error";
        return { calls: 1, decisions: 0, errors: [`${kind}: ${code}: ${(error as Error).message}`] };
      }
    },
  };
}
