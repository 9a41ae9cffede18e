// The Access Evaluation and Access Evaluations APIs over the one pipeline: items
// are prepared at the edge, their directory entries read in one round trip, then
// decided by the Decider — a batch per principal for execute_all (policies see the
// batch, as for CheckBatch), one Check at a time for the short-circuit semantics
// (an item after the one that decides is never evaluated, so it enforces nothing).
import type { BatchItemResult, CheckItem, Decider, DecisionResult } from "../../decide/index.js";
import type { DirectoryEntry, DirectoryStore } from "../../directory/index.js";
import { AuthzenError } from "./errors.js";
import { directoryKeys, itemError, prepare, principalKey, toCheckItem, toCommon, toDecision, type Prepared } from "./mapping.js";
import type { DecisionBody, EdgeCall, EvaluationBody, EvaluationsSemantic, Pep } from "./types.js";
import type { EdgeLimits } from "../validate.js";

export interface EvaluateDeps {
  decider: Decider;
  directory: DirectoryStore;
  /** max_context_bytes: context and each properties object, as for a Check. */
  limits: EdgeLimits;
  now?: () => number;
}

/** One Access Evaluation request. Throws AuthzenError (400) for a request out of bounds. */
export async function evaluateOne(deps: EvaluateDeps, pep: Pep, body: EvaluationBody, call: EdgeCall): Promise<DecisionBody> {
  const prepared = prepare(body, pep, deps.limits);
  const known = await deps.directory.lookup(directoryKeys(prepared), new Date((deps.now ?? Date.now)()));
  const result = await deps.decider.check({ ...toCommon(pep, prepared.token, prepared.subject.id, call), ...toCheckItem(prepared, known) });
  return toDecision(result, pep);
}

/** An item of a batch: ready for the pipeline, or already answered (an error). */
type Item = { ok: true; prepared: Prepared; item?: CheckItem } | { ok: false; answer: DecisionBody };

/**
 * The items of an Access Evaluations request, in request order (each has had the
 * top-level defaults applied and passed the evaluation schema, or carries its error).
 */
export async function evaluateMany(
  deps: EvaluateDeps,
  pep: Pep,
  items: ({ ok: true; body: EvaluationBody } | { ok: false; error: AuthzenError })[],
  semantic: EvaluationsSemantic,
  call: EdgeCall,
): Promise<DecisionBody[]> {
  const prepared: Item[] = items.map((entry) => {
    if (!entry.ok) return { ok: false, answer: itemError(entry.error, pep) };
    try {
      return { ok: true, prepared: prepare(entry.body, pep, deps.limits) };
    } catch (error) {
      if (error instanceof AuthzenError) return { ok: false, answer: itemError(error, pep) };
      throw error;
    }
  });
  const ready = prepared.filter((p): p is Extract<Item, { ok: true }> => p.ok);
  const known: ReadonlyMap<string, DirectoryEntry> = await deps.directory.lookup(
    ready.flatMap((p) => directoryKeys(p.prepared)),
    new Date((deps.now ?? Date.now)()),
  );
  for (const p of ready) p.item = toCheckItem(p.prepared, known);

  if (semantic === "execute_all") return executeAll(deps, pep, prepared, call);

  // deny_on_first_deny works like &&, permit_on_first_permit like ||: the answer
  // ends with the item that settles it.
  const stopOn = semantic === "deny_on_first_deny" ? false : true;
  const answers: DecisionBody[] = [];
  for (const p of prepared) {
    const answer = p.ok ? toDecision(await checkOne(deps, pep, p, call), pep) : p.answer;
    answers.push(answer);
    if (answer.decision === stopOn) break;
  }
  return answers;
}

async function executeAll(deps: EvaluateDeps, pep: Pep, items: Item[], call: EdgeCall): Promise<DecisionBody[]> {
  const answers: (DecisionBody | undefined)[] = items.map((p) => (p.ok ? undefined : p.answer));
  // Items with the same principal (token and subject) go to the pipeline as one batch.
  const groups = new Map<string, number[]>();
  items.forEach((p, index) => {
    if (!p.ok) return;
    const key = principalKey(p.prepared.token, p.prepared.subject.id);
    groups.set(key, [...(groups.get(key) ?? []), index]);
  });
  for (const indexes of groups.values()) {
    const first = items[indexes[0] as number] as Extract<Item, { ok: true }>;
    const results: BatchItemResult[] = await deps.decider.checkBatch({
      ...toCommon(pep, first.prepared.token, first.prepared.subject.id, call),
      items: indexes.map((i) => ({ ok: true as const, item: (items[i] as Extract<Item, { ok: true }>).item as CheckItem })),
    });
    results.forEach((result, j) => {
      const index = indexes[j] as number;
      answers[index] = result.ok ? toDecision(result.result, pep) : itemError(new AuthzenError("invalid_request", result.error.message), pep);
    });
  }
  return answers.map((answer) => answer ?? { decision: false });
}

function checkOne(deps: EvaluateDeps, pep: Pep, p: Extract<Item, { ok: true }>, call: EdgeCall): Promise<DecisionResult> {
  return deps.decider.check({ ...toCommon(pep, p.prepared.token, p.prepared.subject.id, call), ...(p.item as CheckItem) });
}
