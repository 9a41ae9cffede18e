// The primary's side of the bundle copies its processes keep (src/policy/copies.ts): a
// directory private to this Verdict and, for the active and the shadow bundle each, the
// copy a process loaded last from that bundle's path (what a replacement starts on when
// that path does not load), the one before it (a replacement may be reading it while a
// newer one is reported), nothing older.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { BundleRole, Logger } from "../observability/index.js";
import type { KeptBundles } from "./messages.js";

export class KeptBundleDir {
  private readonly latest: Record<BundleRole, string[]> = { active: [], shadow: [] };

  private constructor(private readonly dir: string) {}

  /** A new directory under the system's temporary one (only this user may read it); undefined, logged, when none can be made: replacements then start on the bundle's path alone. */
  static create(log: Logger): KeptBundleDir | undefined {
    try {
      return new KeptBundleDir(mkdtempSync(join(tmpdir(), "verdict-bundles-")));
    } catch (error) {
      log.warn(
        { err: (error as Error).message },
        "no directory for copies of the policy bundle: a process started while the bundle does not load will not start",
      );
      return undefined;
    }
  }

  /** What a process is told at its start. */
  get kept(): KeptBundles {
    const lastGood = this.latest.active.at(-1);
    const lastGoodShadow = this.latest.shadow.at(-1);
    return { dir: this.dir, ...(lastGood ? { lastGood } : {}), ...(lastGoodShadow ? { lastGoodShadow } : {}) };
  }

  /**
   * A process kept `path` (a copy of the `role` bundle it just loaded): that role's last
   * good one from now on. A copy both roles hold (one revision, active and shadow) stays
   * until neither does.
   */
  keep(path: string, role: BundleRole): void {
    if (dirname(path) !== this.dir) return; // not one of ours
    const latest = [...this.latest[role].filter((one) => one !== path), path];
    const older = latest.splice(0, Math.max(0, latest.length - 2));
    this.latest[role] = latest;
    const other = this.latest[role === "active" ? "shadow" : "active"];
    for (const old of older) if (!other.includes(old)) rmSync(old, { recursive: true, force: true });
  }

  /** Removes the directory and every copy (the Verdict stops). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
