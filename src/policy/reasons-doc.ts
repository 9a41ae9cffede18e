// The reason codes a policy can give, and whether a reference document lists them:
// a code is a contract with every API (docs/reasons.md), so an undocumented one
// fails `verdict policy test`.
import { readFileSync } from "node:fs";

/** Codes in Rego sources: `"code": "x"` in rule heads, and requirement(rule, code, ...) for step-ups. */
export function policyReasonCodes(regoSources: string[]): Set<string> {
  const text = regoSources.join("\n");
  return new Set(
    [...text.matchAll(/"code": "([a-z_][a-z0-9_]*)"|requirement\(\s*"[^"]+",\s*"([a-z_][a-z0-9_]*)"/g)].flatMap((m) => [m[1] ?? m[2] ?? ""]).filter(Boolean),
  );
}

/** Codes a reference document lists as table rows: | `code` | ... (before its "## Challenges" part, if any). */
export function documentedCodes(docFile: string): { all: Set<string>; policyLibrary: Set<string> } {
  const doc = readFileSync(docFile, "utf8").split("## Challenges")[0] ?? "";
  return {
    all: new Set([...doc.matchAll(/^\| `([a-z_][a-z0-9_]*)` \|/gm)].flatMap((m) => (m[1] ? [m[1]] : []))),
    policyLibrary: new Set([...doc.matchAll(/^\| `([a-z_][a-z0-9_]*)` \| policy library /gm)].flatMap((m) => (m[1] ? [m[1]] : []))),
  };
}
