// The spill directory: where records go while the database cannot take them, as
// append-only JSON lines, until they are replayed into it.
//
// Files are per process: spill-<pid>-<instance>.jsonl is where this process
// appends; to replay it, the process renames it to replay-<pid>-<instance>-<n>.jsonl
// (new records then start a fresh spill file), writes it to the database and
// deletes it. Files left by a process that is gone (crashed, or stopped while the
// database was down) are claimed by renaming them the same way; a rename succeeds
// for one process only, so no file is replayed by two at once. Records that the
// database refused as invalid go to rejected-*.jsonl and are kept, never replayed.
import { randomBytes } from "node:crypto";
import { closeSync, createReadStream, fdatasyncSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fromSpillLine, toSpillLine, type DecisionRecord } from "./record.js";

const FILE = /^(spill|replay)-(\d+)-([0-9a-f]+)(?:-(\d+))?\.jsonl$/;

export interface SpillChunk {
  records: DecisionRecord[];
  /** Lines that are not records (a torn last line after a crash, or damage). */
  bad: string[];
}

export class SpillDirectory {
  readonly instance = randomBytes(6).toString("hex");
  private sequence = 0;

  /** `dir` is created (mode 0700) when it does not exist; throws when that is impossible. */
  constructor(
    readonly dir: string,
    private readonly pid: number = process.pid,
    private readonly isAlive: (pid: number) => boolean = processIsAlive,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** This process's current spill file. */
  get activeFile(): string {
    return join(this.dir, `spill-${this.pid}-${this.instance}.jsonl`);
  }

  /**
   * Appends records and waits until they are on disk (fdatasync), synchronously: a
   * record is either durably in the file or the call throws.
   */
  append(records: readonly DecisionRecord[]): void {
    appendDurably(this.dir, this.activeFile, records.map(toSpillLine).join(""));
  }

  /** Keeps records the database refused as invalid, for people to look at. */
  reject(lines: readonly string[]): void {
    if (lines.length === 0) return;
    appendDurably(this.dir, join(this.dir, `rejected-${this.pid}-${this.instance}.jsonl`), lines.map((l) => (l.endsWith("\n") ? l : l + "\n")).join(""));
  }

  /** True when any spill or replay file is here (this process's or another's). */
  hasPending(): boolean {
    return this.names().some((name) => FILE.test(name));
  }

  /**
   * Takes every file this process may replay now: its own spill file (rotated),
   * its own replay files, and the files of processes that are gone. Returns their
   * paths, oldest first.
   */
  claim(): string[] {
    for (const name of this.names()) {
      const match = FILE.exec(name);
      if (!match) continue;
      const [, kind, pidText, instance] = match;
      const pid = Number(pidText);
      const mine = pid === this.pid && instance === this.instance;
      if (mine && kind === "replay") continue;
      // Same pid, another instance: an earlier process that had our pid is gone.
      if (!mine && pid !== this.pid && this.isAlive(pid)) continue;
      const target = join(this.dir, `replay-${this.pid}-${this.instance}-${String(this.sequence++).padStart(6, "0")}.jsonl`);
      try {
        renameSync(join(this.dir, name), target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error; // another process claimed it first
      }
    }
    const prefix = `replay-${this.pid}-${this.instance}-`;
    return this.names()
      .filter((name) => name.startsWith(prefix))
      .sort()
      .map((name) => join(this.dir, name));
  }

  /** Reads a spill file in chunks of at most `size` records. */
  async *read(path: string, size: number): AsyncGenerator<SpillChunk> {
    const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
    let chunk: SpillChunk = { records: [], bad: [] };
    try {
      for await (const line of lines) {
        if (line.trim() === "") continue;
        try {
          chunk.records.push(fromSpillLine(line));
        } catch {
          chunk.bad.push(line);
        }
        if (chunk.records.length >= size) {
          yield chunk;
          chunk = { records: [], bad: [] };
        }
      }
    } finally {
      lines.close();
    }
    if (chunk.records.length > 0 || chunk.bad.length > 0) yield chunk;
  }

  remove(path: string): void {
    rmSync(path, { force: true });
  }

  /** Bytes waiting in spill and replay files, for logs (0 when the directory cannot be read). */
  pendingBytes(): number {
    let names: string[];
    try {
      names = this.names();
    } catch {
      return 0;
    }
    let total = 0;
    for (const name of names) {
      if (!FILE.test(name)) continue;
      try {
        total += statSync(join(this.dir, name)).size;
      } catch {
        // replayed and removed meanwhile
      }
    }
    return total;
  }

  private names(): string[] {
    return readdirSync(this.dir);
  }
}

function appendDurably(dir: string, path: string, text: string): void {
  // Opened for each append: a spill directory that was removed or replaced makes
  // the write fail (and Verdict fail closed) instead of writing to a deleted file.
  let created = false;
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    fd = openSync(path, "a", 0o600);
  }
  try {
    const bytes = Buffer.from(text, "utf8");
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // A new file's directory entry must reach the disk too, or a crash can lose it.
  if (created) {
    const dirFd = openSync(dir, "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
