// Prints the markdown table of an earlier run from its JSON, e.g. to compare runs
// after the report changed:  node --import tsx bench/render.ts bench/results/bench-....json
import { readFileSync } from "node:fs";
import { markdown } from "./report.js";
import type { BenchResult } from "./types.js";

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: node --import tsx bench/render.ts FILE.json\n");
  process.exit(2);
}
process.stdout.write(markdown(JSON.parse(readFileSync(file, "utf8")) as BenchResult));
