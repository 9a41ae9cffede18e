// A policy bundle is bounded by what it expands to, counted while it is being
// decompressed: a gzip bomb is refused without ever being held in memory.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { inject } from "vitest";
import { describe, expect, it } from "vitest";
import { BundleError, loadBundle, MAX_BUNDLE_BYTES } from "../../src/policy/index.js";

const MiB = 1024 * 1024;

/** A ustar header for a regular file of `size` bytes. */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, "utf8");
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(size.toString(8).padStart(11, "0") + "\0", 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148); // the checksum counts its own field as spaces
  header.write("0", 156);
  header.write("ustar\u000000", 257);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return header;
}

/**
 * A tar.gz of `files` (name, size in MiB) full of zeros, as concatenated gzip members
 * (each MiB of zeros compresses once and is repeated): about 1 KB per MiB expanded.
 */
function bomb(files: [string, number][]): string {
  const zeros = gzipSync(Buffer.alloc(MiB), { level: 9 });
  const members: Buffer[] = [];
  for (const [name, mib] of files) {
    members.push(gzipSync(tarHeader(name, mib * MiB)));
    for (let i = 0; i < mib; i++) members.push(zeros);
  }
  members.push(gzipSync(Buffer.alloc(1024))); // end of archive
  const path = join(mkdtempSync(join(tmpdir(), "verdict-bomb-")), "bundle.tar.gz");
  writeFileSync(path, Buffer.concat(members));
  return path;
}

/** The highest RSS seen while `work` runs, above what it was before. */
async function peakRssGrowth(work: () => Promise<unknown>): Promise<number> {
  global.gc?.();
  const before = process.memoryUsage.rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  try {
    await work();
  } catch {
    // the caller asserts the outcome separately
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, process.memoryUsage.rss()) - before;
}

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
