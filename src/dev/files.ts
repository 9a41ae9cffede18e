import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Returns the file's contents, creating it with `create()` first if it does not
 * exist. Creation is atomic and never overwrites: when two processes race, both
 * end up with the same contents (the first writer's).
 */
export function readOrCreateSecret(path: string, create: () => string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const temp = temporaryBeside(path);
  writeFileSync(temp, create(), { mode: 0o600 });
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(temp);
  }
  return readFileSync(path, "utf8");
}

/**
 * Writes `contents` to `path` unless it already holds exactly that, through a
 * temporary file renamed into place: every process of `verdict serve` writes the
 * development files it names, and a reader in another process sees the old file or
 * the new one, never one cut short (a plain write truncates first).
 */
export function writeFileAtomically(path: string, contents: string): void {
  try {
    if (readFileSync(path, "utf8") === contents) return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const temp = temporaryBeside(path);
  writeFileSync(temp, contents);
  renameSync(temp, path);
}

/** A temporary file's name beside `path` (its directory made if missing), unique to this process and call. */
function temporaryBeside(path: string): string {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
}
