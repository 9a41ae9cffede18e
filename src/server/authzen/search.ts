// The Search APIs: the directory's entities of the searched type, in id order, each
// evaluated by the pipeline as a dry run (the policies, state and audit trail of
// Check; no obligation is applied), kept when it would be allowed. A page reads
// the directory a chunk at a time and evaluates at most `maxCandidates` entities,
// so memory and time per request stay bounded however large the directory is; the
// next page resumes after the last entity this one settled.
import type { CheckItem, Decider, DecisionResult } from "../../decide/index.js";
import { ACTION_TYPE, entityKey, ENTITY_TYPE, type DirectoryEntry, type DirectoryStore } from "../../directory/index.js";
import { AuthzenError } from "./errors.js";
import { bounded, checkId, checkType, directoryKeys, prepareAction, prepareEntity, takeToken, toCheckItem, toCommon, type Prepared } from "./mapping.js";
import { decodePageToken, encodePageToken, requestHash, type SearchKind } from "./page-token.js";
import type { EdgeCall, Pep, SearchBody } from "./types.js";
import type { EdgeLimits } from "../validate.js";

export interface SearchDeps {
  decider: Decider;
  directory: DirectoryStore;
  pageSize: number;
  maxPageSize: number;
  maxCandidates: number;
  /** max_context_bytes: context and each properties object, as for a Check. */
  limits: EdgeLimits;
  now?: () => number;
}

export type SearchResult = { type: string; id: string } | { name: string };

export interface SearchResponse {
  page: { next_token: string; count: number };
  results: SearchResult[];
  context?: Record<string, unknown>;
}

/** Candidates evaluated at once (the policy workers take them in turn). */
const CONCURRENCY = 16;
/** Directory entries read per round trip. */
const CHUNK = 256;

export async function search(deps: SearchDeps, pep: Pep, kind: SearchKind, body: SearchBody, call: EdgeCall): Promise<SearchResponse> {
  if (kind === "subject" && pep.caller.trustsAssertedSubjects !== true) {
    throw new AuthzenError(
      "asserted_subjects_not_trusted",
      "Subject Search evaluates subjects that have no token here; it is open only to APIs with authzen.apis[].trust_asserted_subjects",
    );
  }
  const nowMs = (deps.now ?? Date.now)();
  const base = prepareSearch(kind, body, pep, deps.limits);
  const hash = requestHash({ kind, request: base.fingerprint });

  let after: string | null = null;
  let limit = Math.min(body.page?.limit ?? deps.pageSize, deps.maxPageSize);
  if (body.page?.token !== undefined && body.page.token !== "") {
    const position = decodePageToken(body.page.token, kind);
    if (position.requestHash !== hash)
      throw new AuthzenError("page_request_changed", "a follow-up page must repeat the first request's subject, action, resource and context");
    if (body.page.limit !== undefined && Math.min(body.page.limit, deps.maxPageSize) !== position.limit) {
      throw new AuthzenError("page_request_changed", "a follow-up page must keep the first request's page.limit");
    }
    // The token is not signed: a limit past max_page_size is not one this PDP gave.
    if (position.limit > deps.maxPageSize) throw new AuthzenError("invalid_page_token", "page.token is not a next_token this PDP returned for this search");
    after = position.after;
    limit = position.limit;
  }
  const page = (nextAfter: string | null | undefined, results: SearchResult[], context?: Record<string, unknown>): SearchResponse => ({
    page: { next_token: nextAfter === undefined ? "" : encodePageToken({ kind, after: nextAfter, limit, requestHash: hash }), count: results.length },
    results,
    ...(context ? { context } : {}),
  });

  // A searched-for type no entity can have has no results (not a 400: spec c-4-6).
  if (!ENTITY_TYPE.test(base.searchedType)) return page(undefined, []);

  const inputs = await deps.directory.lookup(base.inputKeys, new Date(nowMs));
  const results: SearchResult[] = [];
  /** The last entity whose place in the results is settled: the next page resumes after it. */
  let settled: string | null = after;
  let evaluated = 0;
  const scan = deps.directory.scan(kind, base.searchedType, after ?? undefined, new Date(nowMs), Math.min(CHUNK, deps.maxCandidates));
  try {
    for await (const chunk of scan) {
      for (let start = 0; start < chunk.length; start += CONCURRENCY) {
        const room = deps.maxCandidates - evaluated;
        if (room <= 0) return page(settled, results);
        const group = chunk.slice(start, start + Math.min(CONCURRENCY, room));
        evaluated += group.length;
        const decisions = await Promise.all(group.map((candidate) => evaluate(deps, pep, base, candidate, inputs, call)));
        for (const [i, decision] of decisions.entries()) {
          const candidate = group[i] as DirectoryEntry;
          if (failedBeforePolicy(decision)) {
            // Every candidate would fail alike: a token that does not verify (or an issuer that cannot be asked) ends the search.
            return page(undefined, [], { reasons: decision.reasons.map((r) => ({ code: r.code, message: r.message })) });
          }
          if (decision.decision !== "ALLOW") {
            settled = candidate.id; // on no page: the next one need not see it again
            continue;
          }
          // One allowed entity past the page shows that there is a next page.
          if (results.length === limit) return page(settled, results);
          results.push(kind === "action" ? { name: candidate.id } : { type: candidate.type, id: candidate.id });
          settled = candidate.id;
        }
      }
    }
  } finally {
    await scan.return(undefined);
  }
  return page(undefined, results);
}

interface PreparedSearch {
  searchedType: string;
  /** The request's entities that are inputs (not searched for). */
  fixed: Omit<Prepared, "token">;
  token: string;
  inputKeys: ReturnType<typeof directoryKeys>;
  /** What a follow-up page must repeat. */
  fingerprint: unknown;
}

function prepareSearch(kind: SearchKind, body: SearchBody, pep: Pep, limits: EdgeLimits): PreparedSearch {
  const context = bounded(body.context, "context", limits);
  const action = kind === "action" ? { name: "", properties: {} } : prepareAction(body.action as NonNullable<SearchBody["action"]>, limits);
  const subject =
    kind === "subject"
      ? { type: body.subject.type, id: "", properties: bounded(body.subject.properties, "subject.properties", limits) }
      : {
          type: checkType(body.subject.type, "subject.type"),
          id: checkId(body.subject.id as string, "subject.id"),
          properties: bounded(body.subject.properties, "subject.properties", limits),
        };
  const resource =
    kind === "resource"
      ? { type: body.resource.type, id: "", properties: bounded(body.resource.properties, "resource.properties", limits) }
      : prepareEntity(body.resource as { type: string; id: string; properties?: Record<string, unknown> }, "resource", limits);
  const token = takeToken(pep, subject.properties, context);
  const fixed = { subject: { ...subject, properties: token.subjectProperties }, action, resource, context: token.context };
  return {
    searchedType: kind === "subject" ? subject.type : kind === "resource" ? resource.type : ACTION_TYPE,
    fixed,
    token: token.value,
    // The inputs only: the searched-for entity has no id yet (and Action Search no action).
    inputKeys: directoryKeys(fixed).filter((key) => key.kind !== kind),
    // The searched-for id is ignored, and the token may be refreshed between pages.
    fingerprint: {
      subject: { ...fixed.subject, id: kind === "subject" ? "" : fixed.subject.id },
      action: kind === "action" ? null : fixed.action,
      resource: fixed.resource,
      context: fixed.context,
    },
  };
}

function evaluate(
  deps: SearchDeps,
  pep: Pep,
  base: PreparedSearch,
  candidate: DirectoryEntry,
  inputs: ReadonlyMap<string, DirectoryEntry>,
  call: EdgeCall,
): Promise<DecisionResult> {
  const known = new Map(inputs);
  known.set(entityKey(candidate), candidate);
  const fixed = base.fixed;
  let item: CheckItem;
  if (candidate.kind === "subject")
    item = toCheckItem({ ...fixed, subject: { type: candidate.type, id: candidate.id, properties: fixed.subject.properties } }, known);
  else if (candidate.kind === "resource")
    item = toCheckItem({ ...fixed, resource: { type: candidate.type, id: candidate.id, properties: fixed.resource.properties } }, known);
  else item = toCheckItem({ ...fixed, action: { name: candidate.id, properties: {} } }, known);
  // Subject Search asks about other subjects than the user whose token the PEP may
  // hold: each candidate is evaluated as a subject the (trusted) PEP asserts.
  const common = candidate.kind === "subject" ? toCommon(pep, "", candidate.id, call, true) : toCommon(pep, base.token, fixed.subject.id, call, true);
  // A dry run: a search decides nothing for real, so it reserves and consumes nothing.
  return deps.decider.check({ ...common, ...item });
}

/**
 * A denial before any policy ran, with no principal: the token did not verify (or its issuer could not be asked),
 * or the request could not be audited. Every candidate would fail alike.
 */
function failedBeforePolicy(result: DecisionResult): boolean {
  return result.decision !== "ALLOW" && result.principal === undefined;
}
