// Shadow evaluation: a candidate bundle is evaluated beside the active one; the
// answer is always the active one's, every disagreement goes to the recorder, and
// the candidate's answer is put on the result only if it came in time.
import type { DisagreementRecorder, PolicyVerdict } from "../contract/index.js";
import { withDeadline } from "../deadline.js";
import type { Metrics } from "../observability/index.js";
import { differencesOf, EvaluationError, failedVerdict, policyVerdict, verdictChanges, type PolicyEngine, type PolicyInput } from "../policy/index.js";
import type { Principal } from "../token/index.js";
import type { CheckCommon, CheckItem, DecisionName, DecisionResult } from "./types.js";

const EFFECT_DECISION: Record<PolicyVerdict["effect"], DecisionName> = { allow: "ALLOW", deny: "DENY", step_up: "STEP_UP" };

export interface ShadowOptions {
  /** The candidate engine, if one is loaded. */
  engine: () => PolicyEngine | undefined;
  metrics: Metrics;
  /** Where disagreements are recorded; without it they are only counted. */
  recorder?: DisagreementRecorder | undefined;
  /** How long an answer may wait for the shadow's (it goes on in the background). */
  waitMs: number;
  now: () => number;
}

export class ShadowEvaluation {
  constructor(private readonly options: ShadowOptions) {}

  /**
   * Starts the shadow evaluation if a candidate is loaded and one of its workers is
   * idle: shadow evaluation is skipped (and counted) rather than queued, so it can
   * never slow the answers down. It resolves, never rejects.
   */
  start(input: PolicyInput): Promise<PolicyVerdict> | undefined {
    const { metrics } = this.options;
    const engine = this.options.engine();
    if (!engine) return undefined;
    if (!engine.hasIdleWorker()) {
      metrics.shadowEvaluations.inc({ outcome: "skipped" });
      return undefined;
    }
    let release: () => void;
    try {
      release = engine.hold();
    } catch {
      return undefined; // retired between the check and now: skip, like a busy candidate
    }
    return engine
      .decide(input)
      .finally(release)
      .then(
        (decision) => policyVerdict(engine.revision, decision, engine.obligations),
        (error: unknown) => {
          metrics.policyEvaluationFailures.inc({ bundle: "shadow", reason: error instanceof EvaluationError ? error.kind : "invalid_output" });
          return failedVerdict(engine.revision, error instanceof Error ? error.message : String(error));
        },
      );
  }

  /** Compares and records the shadow's answer whenever it comes; puts it on the result if it came within waitMs. */
  async attach(
    result: DecisionResult,
    active: PolicyVerdict,
    shadow: Promise<PolicyVerdict> | undefined,
    common: CheckCommon,
    item: CheckItem,
    principal: Principal,
  ): Promise<DecisionResult> {
    if (!shadow) return result;
    const { metrics, recorder, now } = this.options;
    const compared = shadow.then((verdict) => {
      const changes = verdictChanges(active, verdict);
      const differs = differencesOf(changes);
      metrics.shadowEvaluations.inc({ outcome: verdict.error !== undefined ? "error" : differs.length > 0 ? "disagree" : "agree" });
      if (differs.length > 0) {
        recorder?.record({
          decisionId: result.decisionId,
          at: new Date(now()),
          caller: common.caller.name,
          action: item.action,
          resource: { type: item.resource.type, id: item.resource.id },
          subject: principal.subject,
          clientId: principal.clientId,
          clientType: principal.clientType,
          differs,
          changes,
          active,
          shadow: verdict,
        });
      }
      return { verdict, differs };
    });
    // Late is fine: the comparison above still runs, only the result goes without it.
    const settled = await withDeadline(compared, this.options.waitMs, () => new Error("the shadow answer came too late")).catch(() => undefined);
    if (!settled) return result;
    const { verdict, differs } = settled;
    return {
      ...result,
      shadow: { revision: verdict.revision, effect: EFFECT_DECISION[verdict.effect], reasons: verdict.reasons, agrees: differs.length === 0 },
    };
  }
}
