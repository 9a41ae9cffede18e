// PolicyDecisionService: Check, CheckBatch and Release, each one unary method.
import { POLICY_DECISION_SERVICE, type CheckBatchResponseMessage, type PolicyDecisionServiceServer, type ReleaseResponseMessage } from "@verdict/sdk/wire";
import type { Decider } from "../../decide/index.js";
import { encodeBatchResults, encodeCheckResponse } from "../encode.js";
import { LIMITS, validateBatchRequest, validateCheckRequest, validateReleaseRequest, type EdgeLimits } from "../validate.js";
import { unary, type RpcContext } from "./unary.js";

const NO_DECISION = "internal error: no decision was made";
// Refused on arrival, whole (every item of a batch): by the database's admission (src/state) or the policy pool's bound (src/policy/pool.ts).
const OVERLOADED =
  "overloaded: more decisions are waiting (for the database or for policy evaluation) than can be taken in time; no decision was made and nothing was applied; retry later";

/** Why a Check or CheckBatch whose bytes did not decode is refused: its Structs nest too deep. */
const UNDECODABLE = `context and resource.attributes nest at most ${LIMITS.maxDepth} levels`;

export function decisionService(context: RpcContext, decider: Decider, maxBatchItems: number, limits: EdgeLimits): PolicyDecisionServiceServer {
  return {
    check: unary(context, {
      name: "Check",
      rpc: `${POLICY_DECISION_SERVICE}/Check`,
      timed: true,
      validate: (request, caller, { answerBy }) => ({ ...validateCheckRequest(request, limits), caller, ...(answerBy !== undefined ? { answerBy } : {}) }),
      run: (input, _caller, { trace }) => decider.check({ ...input, ...(trace ? { trace } : {}) }),
      encode: (result, input) => encodeCheckResponse(result, { explain: input.explain === true }),
      answers: { internal: NO_DECISION, overloaded: OVERLOADED },
      logFields: (input) => ({ requestId: input.requestId }),
      undecodable: UNDECODABLE,
    }),
    checkBatch: unary(context, {
      name: "CheckBatch",
      rpc: `${POLICY_DECISION_SERVICE}/CheckBatch`,
      timed: true,
      validate: (request, caller, { answerBy }) => ({
        ...validateBatchRequest(request, maxBatchItems, limits),
        caller,
        ...(answerBy !== undefined ? { answerBy } : {}),
      }),
      run: (input, _caller, { trace }) => decider.checkBatch({ ...input, ...(trace ? { trace } : {}) }),
      encode: (results): CheckBatchResponseMessage => ({ results: encodeBatchResults(results) }),
      answers: { internal: NO_DECISION, overloaded: OVERLOADED },
      logFields: (input) => ({ requestId: input.requestId }),
      undecodable: UNDECODABLE,
    }),
    release: unary(context, {
      name: "Release",
      rpc: `${POLICY_DECISION_SERVICE}/Release`,
      validate: (request) => validateReleaseRequest(request),
      run: async (decisionId, caller) => {
        const result = await decider.release(decisionId, caller);
        context.log.info({ caller: caller.name, decisionId, status: result.status }, "release");
        return result;
      },
      encode: (result): ReleaseResponseMessage => ({ status: result.status, released: result.released }),
      answers: {
        // Some of the decision's obligations may have been given back before the database stopped answering; a retry gives back the rest (never one twice).
        state_unavailable: "state unavailable: the release may be incomplete; retry (a retry gives back only what is still held)",
        internal: "internal error: the release may be incomplete; retry",
      },
      logFields: (decisionId) => ({ decisionId }),
    }),
  };
}
