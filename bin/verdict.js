#!/usr/bin/env node
// The compiled CLI (npm run build). See src/main.ts.
// Node's on-disk cache of compiled modules (Node 22.1 and later; Node 20 starts without it): every
// process of `verdict serve` and every later start loads its modules without compiling them again.
import module from "node:module";
import { statSync } from "node:fs";

module.enableCompileCache?.();
// The bundle (scripts/bundle.mjs) starts faster; it is used only when it is at least as new as tsc's output (dist/.tsbuildinfo), so a bare `tsc -b` is never shadowed by an older bundle.
const built = (path) => statSync(new URL(path, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
const bundle = built("../dist/bundle/verdict.mjs");
const compiled = built("../dist/.tsbuildinfo");
await import(bundle !== undefined && (compiled === undefined || bundle >= compiled) ? "../dist/bundle/verdict.mjs" : "../dist/main.js");
