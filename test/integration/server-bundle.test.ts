// The server bundle `npm run build` writes (scripts/bundle.mjs): every chunk is
// Latin-1 text, so that V8 keeps its source one byte a character rather than two
// for the whole chunk (docs/performance.md "Memory and start"). The end-to-end
// tests run the bundle itself.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bundleDir = join(root, "dist", "bundle");

describe("the server bundle", () => {
  it("holds no character beyond Latin-1 in any chunk (esbuild keeps comments as written; the build escapes them)", () => {
    const chunks = readdirSync(bundleDir).filter((name) => name.endsWith(".mjs"));
    expect(chunks.length).toBeGreaterThan(1);
    const wide = chunks.flatMap((name) => {
      const text = readFileSync(join(bundleDir, name), "utf8");
      const at = text.search(/[\u0100-\uffff]/);
      return at === -1 ? [] : [`${name}: ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 10))}`];
    });
    expect(wide).toEqual([]);
  });
});
