// The run's own temporary directory, named after the process that made it, and the
// ones earlier runs left when they were killed before removing theirs (their process
// is gone): removed at the next run's start, so they do not pile up either.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const PREFIX = "verdict-tests-";
/** A run directory's name, and the process named in it. */
const RUN_DIRECTORY = new RegExp(`^${PREFIX}(\\d+)-`);

/** A new directory for this run in `parent`, named after this process. */
export function makeRunDirectory(parent: string): string {
  return mkdtempSync(join(parent, `${PREFIX}${process.pid}-`));
}

/** Removes the run directories in `parent` whose process has ended; the names of those removed. */
export function removeAbandonedRunDirectories(parent: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(parent)) {
    const pid = Number(RUN_DIRECTORY.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || isRunning(pid)) continue;
    rmSync(join(parent, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
