import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { defaultPolicyDir } from "../../src/paths.js";
import { bundleSources } from "../../src/policy/index.js";
import { POLICY_LIBRARY_REASONS, REASONS, VERDICT_REASONS } from "@verdict/sdk/wire";

describe("docs/reasons.md", () => {
  const doc = readFileSync(new URL("../../docs/reasons.md", import.meta.url), "utf8").split("## Challenges")[0] ?? "";
  const documented = new Set([...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]));

  it("lists every reason code Verdict can give, and only those", () => {
    const verdictCodes = Object.keys(VERDICT_REASONS).sort();
    const policyCodes = [...doc.matchAll(/^\| `([a-z_]+)` \| policy library /gm)].map((m) => m[1]);
    expect([...documented].filter((code) => !policyCodes.includes(code)).sort()).toEqual(verdictCodes);
  });

  it("lists every reason code the shipped policy library can give, with the rule that gives it", () => {
    const rego = bundleSources(defaultPolicyDir)
      .filter((f) => f.endsWith(".rego"))
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    // codes appear as "code": "x" in rule heads, and as requirement(rule, code, ...) for step-ups
    const policyCodes = new Set([...rego.matchAll(/"code": "([a-z_]+)"|requirement\(\s*"[^"]+",\s*"([a-z_]+)"/g)].map((m) => m[1] ?? m[2]));
    expect(policyCodes.size).toBeGreaterThan(10);
    const libraryRows = new Set([...doc.matchAll(/^\| `([a-z_]+)` \| policy library /gm)].map((m) => m[1]));
    const undocumented = [...policyCodes].filter((code) => !libraryRows.has(code) && !(code && code in VERDICT_REASONS));
    expect(undocumented).toEqual([]);
  });

  it("has the policy library's codes in the SDK's table, the same as the documented rows", () => {
    const libraryRows = [...doc.matchAll(/^\| `([a-z_]+)` \| policy library /gm)].map((m) => m[1]).sort();
    expect(Object.keys(POLICY_LIBRARY_REASONS).sort()).toEqual(libraryRows);
    expect(Object.keys(REASONS).sort()).toEqual([...new Set([...Object.keys(VERDICT_REASONS), ...libraryRows])].sort());
  });
});
