// A policy bundle is bounded by what it expands to, counted while it is being
// decompressed: a gzip bomb is refused without ever being held in memory.
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { BundleError, loadBundle, MAX_BUNDLE_BYTES } from "../../src/policy/index.js";
import { gzipBomb as bomb, peakRssGrowth } from "../support/bundles.js";

const MiB = 1024 * 1024;

describe("policy bundle expansion", () => {
  it("refuses a 1 MB bundle whose policy.wasm expands to 1 GiB, holding next to nothing", async () => {
    const path = bomb([["policy.wasm", 1024]]);
    expect(await peakRssGrowth(() => loadBundle(path))).toBeLessThan(200 * MiB);
    await expect(loadBundle(path)).rejects.toThrow(BundleError);
    await expect(loadBundle(path)).rejects.toThrow(/expands to more than 64 MiB/);
  });

  it("refuses a bundle of many files, none of them read, that expand to 1 GiB together", async () => {
    const path = bomb(Array.from({ length: 16 }, (_, i): [string, number] => [`filler-${i}`, 64]));
    expect(await peakRssGrowth(() => loadBundle(path))).toBeLessThan(200 * MiB);
    await expect(loadBundle(path)).rejects.toThrow(/expands to more than 64 MiB/);
  });

  it("still loads the real bundle, far below the bound", async () => {
    const bundle = await loadBundle(inject("bundlePath"));
    expect(bundle.wasm.length).toBeGreaterThan(0);
    expect(bundle.wasm.length).toBeLessThan(MAX_BUNDLE_BYTES);
    expect(bundle.revision).toMatch(/^sha256:/);
  });
});
