// A policy bundle as `opa build -t wasm` writes it: policy.wasm, data.json and a
// .manifest whose revision is a content hash. Loaded from the .tar.gz or from a
// directory holding the same files.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { VerdictError } from "../errors/index.js";

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

function readDirectory(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of ["policy.wasm", "data.json", ".manifest"]) {
    try {
      files.set(name, readFileSync(join(dir, name)));
    } catch {
      // absent files are reported by the caller
    }
  }
  return files;
}

async function readTarball(path: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const untar = extract();
  const done = new Promise<void>((resolve, reject) => {
    untar.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
      stream.on("end", () => {
        if (header.type === "file") files.set(header.name.replace(/^\.?\//, ""), Buffer.concat(chunks));
        next();
      });
      stream.on("error", reject);
    });
    untar.on("finish", resolve);
    untar.on("error", reject);
  });
  const gunzip = createGunzip();
  gunzip.on("error", (error) => untar.destroy(error));
  Readable.from(readFileSync(path)).pipe(gunzip).pipe(untar);
  await done;
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
