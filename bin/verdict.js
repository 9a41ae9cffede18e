#!/usr/bin/env node
// The compiled CLI (npm run build). See src/main.ts.
import "../dist/main.js";
