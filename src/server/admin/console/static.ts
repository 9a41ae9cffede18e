// The console's pages: the files `npm run build` writes to dist/console (Vite), read
// once when the admin listener starts and answered from memory. Only those files
// exist: no request path ever reaches the file system.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { packageRoot } from "../../../paths.js";

export const CONSOLE_DIST = join(packageRoot, "dist", "console");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

export interface StaticFile {
  body: Buffer;
  type: string;
  /** Hashed asset names never change content: cached for a year; the page itself never. */
  immutable: boolean;
}

/** The built console by URL path under /console/ ("" is the page); undefined when it was not built. */
export function loadConsoleFiles(dir: string = CONSOLE_DIST): Map<string, StaticFile> | undefined {
  if (!existsSync(join(dir, "index.html"))) return undefined;
  const files = new Map<string, StaticFile>();
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const type = TYPES[extname(name)];
        if (type === undefined) continue;
        const url = relative(dir, path).split(sep).join("/");
        files.set(url, { body: readFileSync(path), type, immutable: url.startsWith("assets/") });
      }
    }
  };
  walk(dir);
  const page = files.get("index.html");
  if (page) files.set("", page);
  return files;
}
