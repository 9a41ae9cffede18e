// Bundles compiled by the real opa for tests: the shipped policies with changed
// data, and fixture policies under test/fixtures.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { defaultPolicyDir, packageRoot } from "../../src/paths.js";
import { buildBundle } from "../../src/policy/index.js";

export const fixturePolicy = (name: string) => join(packageRoot, "test", "fixtures", name);

/** Compiles a policy directory into a fresh temporary bundle file (its directory under `under`: the system's temporary directory by default). */
export async function buildTestBundle(policyDir: string, name = "bundle.tar.gz", under: string = tmpdir()): Promise<{ path: string; revision: string }> {
  const out = join(mkdtempSync(join(under, "verdict-test-bundle-")), name);
  const { revision } = await buildBundle({ policyDir, outFile: out });
  return { path: out, revision };
}

/** A copy of the shipped policies (or of `from`) with one value of data.json changed, e.g. ["settings", "limits", ...], in a directory under `under`. */
export function policiesWithData(path: string[], value: unknown, from: string = defaultPolicyDir, under: string = tmpdir()): string {
  const dir = mkdtempSync(join(under, "verdict-test-policies-"));
  cpSync(from, dir, { recursive: true });
  const data = JSON.parse(readFileSync(join(dir, "data.json"), "utf8")) as Record<string, unknown>;
  let node = data;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null) throw new Error(`data.json has no object at ${key}`);
    node = next as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
  writeFileSync(join(dir, "data.json"), JSON.stringify(data, null, 2));
  return dir;
}

/** Compiles a policy under test/fixtures/ with the pinned opa; returns the bundle's path. */
export async function buildFixtureBundle(name: string): Promise<string> {
  return (await buildTestBundle(fixturePolicy(name))).path;
}

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
export function gzipBomb(files: [string, number][]): string {
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
export async function peakRssGrowth(work: () => Promise<unknown>): Promise<number> {
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
