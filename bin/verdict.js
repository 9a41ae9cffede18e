#!/usr/bin/env node
// The compiled CLI (npm run build). See src/main.ts.
// Node's on-disk cache of compiled modules (Node 22.1 and later; Node 20 starts without it): every
// process of `verdict serve` and every later start loads its modules without compiling them again.
import module from "node:module";

module.enableCompileCache?.();
await import("../dist/main.js");
