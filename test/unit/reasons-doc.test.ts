import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { REASONS } from "../../src/reasons/index.js";

describe("docs/reasons.md", () => {
  const doc = readFileSync(new URL("../../docs/reasons.md", import.meta.url), "utf8").split("## Challenges")[0] ?? "";
  const documented = new Set([...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]));

  it("lists every reason code Verdict can give, and only those", () => {
    const verdictCodes = Object.keys(REASONS).sort();
    const policyCodes = [...doc.matchAll(/^\| `([a-z_]+)` \| demo policy \|/gm)].map((m) => m[1]);
    expect([...documented].filter((code) => !policyCodes.includes(code)).sort()).toEqual(verdictCodes);
  });
});
