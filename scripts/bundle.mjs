#!/usr/bin/env node
// The server as one ES module and its lazily loaded chunks (dist/bundle/), from the
// compiled dist/ (a step of `npm run build`, after tsc). A process of `verdict serve`
// then reads a few large files instead of resolving and compiling about 1,500 modules
// one by one: start time is mostly module loading (docs/performance.md "Memory and
// start"). bin/verdict.js runs the bundle when it is at least as new as tsc's output,
// else dist/main.js. Built with esbuild (made for this: ES modules, code splitting
// that keeps `import()` lazy, Node as the platform).
import { build } from "esbuild";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist", "bundle");

// Left to node_modules: the MongoDB driver's optional native and cloud add-ons, which
// it requires only when they are installed. (What is loaded by path at run time stays
// there too: the policy worker's opa-wasm, resolved with require.resolve, and the
// OpenTelemetry SDK, required when tracing is on.)
const external = ["kerberos", "snappy", "@mongodb-js/zstd", "mongodb-client-encryption", "gcp-metadata", "socks", "aws4", "@aws-sdk/credential-providers"];

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { verdict: join(root, "dist", "main.js") },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  outExtension: { ".js": ".mjs" },
  chunkNames: "[name]-[hash]",
  // The ES module build where a package has both (jsonc-parser's "main" is a UMD build that requires its parts by relative path).
  mainFields: ["module", "main"],
  external,
  // The bundled CommonJS packages call require() for Node's built-ins.
  banner: { js: "import { createRequire as __verdictCreateRequire } from 'node:module'; const require = __verdictCreateRequire(import.meta.url);" },
  logLevel: "warning",
});

// V8 keeps each chunk's source text (to compile its functions when first called), one
// byte a character, or two for the whole chunk when a single character is beyond
// Latin-1: 2.4 MB instead of 1.2 for the largest chunk, in every process. esbuild
// escapes such characters in code (its default charset is ASCII) but not in the
// comments it keeps ("—", "→"), so they are escaped here the same way (\uXXXX, which
// reads as the same character in a string, a regular expression or an identifier, and
// as text in a comment).
for (const name of readdirSync(outdir)) {
  const path = join(outdir, name);
  const text = readFileSync(path, "utf8");
  const latin1 = text.replace(/[\u0100-\uffff]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (latin1 !== text) writeFileSync(path, latin1);
}
