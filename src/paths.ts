// Where Verdict's own files are, independent of the working directory.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root (the directory holding Verdict's package.json), from src/, dist/ or the bundle in dist/bundle/. */
export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === "verdict") return dir;
    if (dirname(dir) === dir) throw new Error(`Verdict's package.json is not above ${from}`);
  }
}

/** The demo bundle `npm run policy:build` produces. */
export const defaultBundlePath = join(packageRoot, "build", "bundle.tar.gz");

/** The policies shipped with Verdict (the invoices demo and the rule library). */
export const defaultPolicyDir = join(packageRoot, "policies");

/** A tool built by `npm run tools`. */
export function toolPath(name: "opa" | "local-mongo" | "regal"): string {
  return join(packageRoot, ".tools", "bin", name);
}

/** The version of the installed package, from its package.json. */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version?: unknown };
  return typeof manifest.version === "string" ? manifest.version : "unknown";
}
