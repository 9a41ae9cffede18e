// A policy bundle as `opa build -t wasm` writes it: policy.wasm, data.json and a
// .manifest whose revision is a content hash. Loaded from the .tar.gz or from a
// directory holding the same files.
import { createReadStream, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { VerdictError } from "../errors/index.js";

/**
 * The most a bundle may hold once decompressed (tar headers and every file). A
 * gzip bomb (1 MB expanding to 1 GiB) is refused while it is being decompressed,
 * having held at most this much, never all of it.
 */
export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

/** The files Verdict reads from a bundle; anything else in the tarball is skipped unread. */
const BUNDLE_FILES = new Set(["policy.wasm", "data.json", ".manifest"]);

export interface Bundle {
  wasm: Buffer;
  data: Record<string, unknown>;
  revision: string;
  /** Where it was loaded from, for logs. */
  source: string;
}

export class BundleError extends VerdictError {
  constructor(message: string) {
    super("bundle_invalid", message);
  }
}

export async function loadBundle(path: string): Promise<Bundle> {
  let files: Map<string, Buffer>;
  try {
    files = statSync(path).isDirectory() ? readDirectory(path) : await readTarball(path);
  } catch (error) {
    if (error instanceof BundleError) throw error;
    throw new BundleError(`cannot read policy bundle ${path}: ${(error as Error).message}`);
  }
  const wasm = files.get("policy.wasm");
  if (!wasm) throw new BundleError(`policy bundle ${path} has no policy.wasm (build it with opa build -t wasm)`);
  const data = parseJsonObject(files.get("data.json") ?? Buffer.from("{}"), `${path}: data.json`);
  const manifest = parseJsonObject(files.get(".manifest") ?? Buffer.from("{}"), `${path}: .manifest`);
  const revision = typeof manifest["revision"] === "string" && manifest["revision"] !== "" ? manifest["revision"] : undefined;
  if (!revision) throw new BundleError(`policy bundle ${path} has no revision in its .manifest`);
  return { wasm, data, revision, source: path };
}

function tooLarge(path: string): BundleError {
  return new BundleError(`policy bundle ${path} expands to more than ${MAX_BUNDLE_BYTES / (1024 * 1024)} MiB; refused`);
}

function readDirectory(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let total = 0;
  for (const name of BUNDLE_FILES) {
    const path = join(dir, name);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      continue; // absent files are reported by the caller
    }
    total += size;
    if (total > MAX_BUNDLE_BYTES) throw tooLarge(dir);
    files.set(name, readFileSync(path));
  }
  return files;
}

/** Counts what gunzip produces and stops the stream as soon as it passes the bound. */
function expansionBound(path: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > MAX_BUNDLE_BYTES) callback(tooLarge(path));
      else callback(null, chunk);
    },
  });
}

async function readTarball(path: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const untar = extract();
  untar.on("entry", (header, stream, next) => {
    const name = header.name.replace(/^\.?\//, "");
    const wanted = header.type === "file" && BUNDLE_FILES.has(name);
    // An entry cut short (the bound below, or a damaged archive) fails the pipeline, which reports it.
    stream.on("error", () => undefined);
    // A header that announces more than the bound is refused before its contents arrive.
    if (wanted && (header.size ?? 0) > MAX_BUNDLE_BYTES) {
      stream.resume();
      untar.destroy(tooLarge(path));
      return;
    }
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: unknown) => {
      if (wanted) chunks.push(chunk as Buffer);
    });
    stream.on("end", () => {
      if (wanted) files.set(name, Buffer.concat(chunks));
      next();
    });
  });
  await pipeline(createReadStream(path), createGunzip(), expansionBound(path), untar);
  return files;
}

function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new BundleError(`${what} is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new BundleError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}
