// Notices that a bundle (a .tar.gz or a directory) changed: fs.watch for a prompt
// reaction, and a periodic check of a stat fingerprint for file systems where
// watch events do not arrive (network and container mounts, atomic renames).
import { statSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";

const BUNDLE_DIR_FILES = ["policy.wasm", "data.json", ".manifest"];

/** Changes whenever the bundle's files are replaced or rewritten; throws when the path cannot be read. */
export function bundleFingerprint(path: string): string {
  const stat = statSync(path);
  const files = stat.isDirectory() ? BUNDLE_DIR_FILES.map((name) => join(path, name)) : [path];
  return files
    .map((file) => {
      try {
        const s = statSync(file);
        return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
      } catch {
        return "-";
      }
    })
    .join("|");
}

export interface BundleWatcher {
  close(): void;
}

export interface WatchOptions {
  /** Quiet time after the last event before onChange runs (a copy is several events). */
  debounceMs: number;
  /** How often the fingerprint is checked regardless of events. */
  pollMs: number;
}

/** Calls onChange (debounced) when something under the bundle's path may have changed. */
export function watchBundle(path: string, onChange: () => void, { debounceMs, pollMs }: WatchOptions): BundleWatcher {
  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  const tryWatch = (target: string, filter?: string) => {
    try {
      const watcher = watch(target, { persistent: false }, (_event, name) => {
        if (filter === undefined || name === null || name === filter) changed();
      });
      watcher.on("error", () => watcher.close()); // e.g. the directory was removed: the poll still runs
      watchers.push(watcher);
    } catch {
      // not watchable (missing, unsupported): the poll still runs
    }
  };
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    // checked again by the poll
  }
  if (isDirectory) tryWatch(path);
  // The parent sees the bundle replaced by a rename (or a directory swapped by a symlink).
  tryWatch(dirname(path), basename(path));
  const poll = setInterval(onChange, pollMs);
  poll.unref();
  return {
    close() {
      clearTimeout(timer);
      clearInterval(poll);
      for (const watcher of watchers) watcher.close();
    },
  };
}
