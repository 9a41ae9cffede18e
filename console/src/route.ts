// The page the location's fragment names (#/decisions, #/agents/<client_id>), read so
// that no fragment can break the page. A fragment that does not decode (bad
// percent-encoding) is a problem to show, never a throw (which left a blank page). A
// fragment with OAuth response fields (#access_token=…, as an identity provider's
// implicit or fragment redirect sends) is not taken: operators paste a token, and a
// token in the address stays in the tab's history, so it is removed from there.
// Problems never quote the fragment, which may carry a token.
export const PAGES = [
  ["decisions", "Decisions"],
  ["agents", "Agents"],
  ["approvals", "Approvals"],
  ["playground", "Policy playground"],
] as const;

export type PageId = (typeof PAGES)[number][0];

export type Route =
  | { page: PageId; rest: string[] }
  | { problem: string; /** The fragment carried sign-in fields: the caller removes it from the address. */ credentials: boolean };

/** Fields of an authorization response (RFC 6749 §4.2.2, §4.1.2, OpenID Connect's fragment mode). */
const RESPONSE_FIELD = /(?:^|[&;?])(?:access_token|id_token|refresh_token|code|error)=/i;

export function readRoute(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  if (RESPONSE_FIELD.test(raw)) {
    return {
      problem:
        "The console's address carried sign-in fields (such as an access token from an identity provider). The console does not take a token from its address, and has removed them from it: sign in by pasting an access token instead.",
      credentials: true,
    };
  }
  const parts: string[] = [];
  for (const part of raw.split("/")) {
    try {
      parts.push(decodeURIComponent(part));
    } catch {
      return { problem: "The console could not read the page its address names (the part after #): it is not valid percent-encoding.", credentials: false };
    }
  }
  const [first = "", ...rest] = parts;
  if (first === "") return { page: "decisions", rest: [] };
  const page = PAGES.find(([id]) => id === first)?.[0];
  if (!page) return { problem: "The console has no page at this address.", credentials: false };
  return { page, rest };
}
