// Copies of the bundles a Verdict of several processes served, for a process started
// in place of one that died: when the bundle's file does not load at that moment (a
// broken bundle deployed, which the running processes refused to reload), the
// replacement serves the copy of the last good one instead of failing its start,
// which would stop the whole Verdict. A copy is the bundle as loaded (its wasm, data
// and revision) in a directory of its own, written beside and then renamed, so a
// directory that exists is whole. The copies' directory must be this user's own, a
// real directory no one else may read or write: one that a temporary-files cleaner
// removed and someone else made again under the same name is not trusted.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, lstatSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { BundleRole } from "../observability/index.js";
import { BundleError, loadBundle, type Bundle } from "./bundle.js";

/** Where a Verdict of several processes keeps its copies, and the last good ones (src/cluster hands them to each process). */
export interface BundleCopies {
  /** A directory private to this Verdict, removed when it stops. */
  dir: string;
  /** The copy of the active bundle a process of this Verdict last loaded from the bundle's path: served when that path does not load at the start. */
  lastGood?: string;
  /** The same for the shadow bundle. */
  lastGoodShadow?: string;
  /** Told of each copy kept (after each load from a bundle's path). */
  kept(path: string, role: BundleRole): void;
}

/** Writes `bundle` as a bundle directory under `dir`, once per revision; its path. */
export async function keepCopy(bundle: Bundle, dir: string): Promise<string> {
  assertPrivate(dir);
  const path = join(dir, createHash("sha256").update(bundle.revision).digest("hex").slice(0, 32));
  if (existsSync(path)) return path;
  const writing = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await mkdir(writing, { mode: 0o700 });
    await writeFile(join(writing, "policy.wasm"), bundle.wasm);
    await writeFile(join(writing, "data.json"), JSON.stringify(bundle.data));
    await writeFile(join(writing, ".manifest"), JSON.stringify({ revision: bundle.revision }));
    await rename(writing, path);
  } catch (error) {
    // Another process kept the same revision first: its copy stands.
    if (!existsSync(path)) throw error;
  } finally {
    await rm(writing, { recursive: true, force: true });
  }
  return path;
}

/** Loads a copy keepCopy wrote, once its directory is found private. */
export async function loadCopy(path: string): Promise<Bundle> {
  assertPrivate(dirname(path));
  return loadBundle(path);
}

function assertPrivate(dir: string): void {
  const stat = lstatSync(dir);
  const owner = process.getuid?.();
  if (!stat.isDirectory() || (owner !== undefined && stat.uid !== owner) || (stat.mode & 0o077) !== 0)
    throw new BundleError(`${dir} is not a directory private to this user: its bundle copies are not used`);
}
