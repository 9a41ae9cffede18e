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
//
// The directory is Verdict's alone: created 0700, tightened to 0700 when found
// looser, refused when another user owns it. Every line carries an HMAC-SHA256 of
// its record under a key kept beside the files (spill.key, 0600, shared by the
// processes of one host so each can replay what another left); a line without a
// valid one was not written by Verdict and is never replayed.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import {
  chmodSync,
  closeSync,
  createReadStream,
  fdatasyncSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { VerdictError } from "../errors/index.js";
import { fromSpillLine, toSpillLine, type TrailRecord } from "./record.js";

const FILE = /^(spill|replay)-(\d+)-([0-9a-f]+)(?:-(\d+))?\.jsonl$/;
const KEY_FILE = "spill.key";
const KEY_BYTES = 32;
/** base64url of an HMAC-SHA256, then one space, then the record as JSON. */
const MAC_LENGTH = 43;

export interface SpillChunk {
  records: TrailRecord[];
  /** Lines that are not records (a torn last line after a crash, or damage). */
  bad: string[];
  /** Lines whose HMAC is missing or wrong: not written by Verdict (planted, or edited). Never replayed. */
  forged: string[];
}

/** The spill directory cannot be trusted or used; the message says what to change. */
export class SpillDirectoryError extends VerdictError {
  constructor(message: string) {
    super("spill_directory_invalid", message);
  }
}

export class SpillDirectory {
  readonly instance = randomBytes(6).toString("hex");
  /** What was found wrong and fixed when the directory was opened (loose modes), for the log. */
  readonly notices: string[] = [];
  private sequence = 0;
  private readonly key: Buffer;

  /**
   * `dir` is created (mode 0700) when it does not exist, tightened to 0700 when it
   * is looser, and refused when another user owns it; its key is read or created.
   * Throws when any of that is impossible.
   */
  constructor(
    readonly dir: string,
    private readonly pid: number = process.pid,
    private readonly isAlive: (pid: number) => boolean = processIsAlive,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.ownAndTighten(dir, "directory", 0o700);
    this.key = this.readOrCreateKey();
  }

  /** This process's current spill file. */
  get activeFile(): string {
    return join(this.dir, `spill-${this.pid}-${this.instance}.jsonl`);
  }

  /**
   * Appends records and waits until they are on disk (fdatasync), synchronously: a
   * record is either durably in the file or the call throws.
   */
  append(records: readonly TrailRecord[]): void {
    appendDurably(this.dir, this.activeFile, records.map((record) => this.signedLine(record)).join(""));
  }

  /** A record as a spill file line: its HMAC, a space, its JSON. */
  signedLine(record: TrailRecord): string {
    const json = toSpillLine(record);
    return `${this.mac(json.trimEnd())} ${json}`;
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

  /** Reads a spill file in chunks of at most `size` records; only lines with a valid HMAC become records. */
  async *read(path: string, size: number): AsyncGenerator<SpillChunk> {
    const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
    let chunk: SpillChunk = { records: [], bad: [], forged: [] };
    try {
      for await (const line of lines) {
        if (line.trim() === "") continue;
        const json = this.verified(line);
        if (json === undefined) {
          // A torn last line (a crash mid-append) has no JSON end either: damage, not forgery.
          (line.length > MAC_LENGTH + 1 && line.trimEnd().endsWith("}") ? chunk.forged : chunk.bad).push(line);
          continue;
        }
        try {
          chunk.records.push(fromSpillLine(json));
        } catch {
          chunk.bad.push(line);
        }
        if (chunk.records.length >= size) {
          yield chunk;
          chunk = { records: [], bad: [], forged: [] };
        }
      }
    } finally {
      lines.close();
    }
    if (chunk.records.length > 0 || chunk.bad.length > 0 || chunk.forged.length > 0) yield chunk;
  }

  /** The JSON of a line whose HMAC verifies; undefined otherwise. */
  private verified(line: string): string | undefined {
    if (line.length <= MAC_LENGTH + 1 || line[MAC_LENGTH] !== " ") return undefined;
    const given = Buffer.from(line.slice(0, MAC_LENGTH), "base64url");
    const json = line.slice(MAC_LENGTH + 1);
    const expected = Buffer.from(this.mac(json), "base64url");
    return given.length === expected.length && timingSafeEqual(given, expected) ? json : undefined;
  }

  private mac(json: string): string {
    return createHmac("sha256", this.key).update(json, "utf8").digest("base64url");
  }

  private ownAndTighten(path: string, what: string, mode: number): void {
    const notice = ownAndTighten(path, what, mode);
    if (notice) this.notices.push(notice);
  }

  /**
   * The HMAC key of this directory: read, or created atomically (written under a
   * temporary name, then linked into place, which fails if another process won).
   */
  private readOrCreateKey(): Buffer {
    const path = join(this.dir, KEY_FILE);
    try {
      lstatSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      const temporary = join(this.dir, `${KEY_FILE}.${this.pid}-${this.instance}.tmp`);
      appendDurably(this.dir, temporary, randomBytes(KEY_BYTES).toString("hex"));
      try {
        linkSync(temporary, path);
      } catch (linkError) {
        if ((linkError as NodeJS.ErrnoException).code !== "EEXIST") throw linkError;
      } finally {
        rmSync(temporary, { force: true });
      }
    }
    if (!lstatSync(path).isFile()) throw new SpillDirectoryError(`the audit spill key ${path} is not a regular file`);
    this.ownAndTighten(path, "key", 0o600);
    const key = Buffer.from(readFileSync(path, "utf8").trim(), "hex");
    if (key.length !== KEY_BYTES)
      throw new SpillDirectoryError(`the audit spill key ${path} is not ${KEY_BYTES} bytes of hex; remove it (files it signed can then no longer be replayed)`);
    return key;
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

/**
 * The configured spill_dir, parent of the per-database directories: created 0700,
 * or checked and tightened like them. Returns what it fixed, for the log.
 */
export function secureSpillRoot(root: string): string[] {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const notice = ownAndTighten(root, "directory", 0o700);
  return notice ? [notice] : [];
}

/**
 * Refuses what another user owns, and a shared directory (sticky bit, like /tmp);
 * tightens what is looser than `mode`. Returns a notice when it tightened.
 */
function ownAndTighten(path: string, what: string, mode: number): string | undefined {
  const stat = statSync(path);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw new SpillDirectoryError(
      `the audit spill ${what} ${path} belongs to user ${stat.uid}, not to Verdict's user ${uid}: records there could be planted or read by others`,
    );
  }
  if (stat.isDirectory() && (stat.mode & 0o1000) !== 0) {
    throw new SpillDirectoryError(
      `the audit spill ${what} ${path} is a shared directory (sticky bit, like /tmp): give audit.spill_dir a directory of Verdict's own`,
    );
  }
  if ((stat.mode & 0o777 & ~mode) === 0) return undefined;
  chmodSync(path, mode);
  return `the audit spill ${what} ${path} had mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}; tightened to ${mode.toString(8).padStart(4, "0")}`;
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
