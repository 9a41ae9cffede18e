// Where Verdict's own files are, independent of the working directory.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root (the directory holding package.json), from src/ or dist/. */
export const packageRoot = fileURLToPath(new URL("..", import.meta.url));

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
