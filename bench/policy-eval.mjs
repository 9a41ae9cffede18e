#!/usr/bin/env node
// npm run bench:policy — what the evaluation bounds cost per Check.
//
// Evaluates the cases of policies/testdata/decisions_test.json with the built
// bundle (build/bundle.tar.gz) three ways and prints latency percentiles:
//   in-thread   opa-wasm on the main thread, no bounds (the floor)
//   engine      PolicyEngine: a worker pool with the time and memory bounds
//               (what the server does), one evaluation at a time
//   engine x64  the same with 64 evaluations in flight (throughput)
// Run `npm run build && npm run policy:build` first (the npm script does).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadPolicy } from "@open-policy-agent/opa-wasm";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const { loadBundle, PolicyEngine, DEFAULT_BOUNDS } = await import(join(root, "dist", "policy", "index.js"));

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20_000);
const table = JSON.parse(readFileSync(join(root, "policies", "testdata", "decisions_test.json"), "utf8"));
const union = (a, b) => {
  if (typeof a !== "object" || a === null || Array.isArray(a) || typeof b !== "object" || b === null || Array.isArray(b)) return b;
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in a ? union(a[k], v) : v;
  return out;
};
const inputs = table.decision_cases.map((c) => union(table.base_input, c.input));
const bundle = await loadBundle(join(root, "build", "bundle.tar.gz"));

function percentiles(samples) {
  const sorted = [...samples].sort((x, y) => x - y);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  return { p50: at(50), p90: at(90), p99: at(99), max: sorted[sorted.length - 1] };
}

function report(name, samples, totalMs) {
  const p = percentiles(samples);
  const us = (ms) => `${(ms * 1000).toFixed(0)} µs`.padStart(9);
  console.log(`${name.padEnd(12)} p50 ${us(p.p50)}  p90 ${us(p.p90)}  p99 ${us(p.p99)}  max ${us(p.max)}  ${Math.round((samples.length / totalMs) * 1000)} eval/s`);
}

// in-thread floor
{
  const policy = await loadPolicy(bundle.wasm);
  policy.setData(bundle.data);
  for (let i = 0; i < 2_000; i++) policy.evaluate(inputs[i % inputs.length], "verdict/decision");
  const samples = [];
  const start = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const t = performance.now();
    policy.evaluate(inputs[i % inputs.length], "verdict/decision");
    samples.push(performance.now() - t);
  }
  report("in-thread", samples, performance.now() - start);
}

const engine = await PolicyEngine.load(bundle, { bounds: DEFAULT_BOUNDS });
try {
  for (let i = 0; i < 2_000; i++) await engine.decide(inputs[i % inputs.length]);
  {
    const samples = [];
    const start = performance.now();
    for (let i = 0; i < ITERATIONS; i++) {
      const t = performance.now();
      await engine.decide(inputs[i % inputs.length]);
      samples.push(performance.now() - t);
    }
    report("engine", samples, performance.now() - start);
  }
  {
    const samples = [];
    const start = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < ITERATIONS) {
        const i = next++;
        const t = performance.now();
        await engine.decide(inputs[i % inputs.length]);
        samples.push(performance.now() - t);
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    report("engine x64", samples, performance.now() - start);
  }
  console.log(`(${ITERATIONS} evaluations each, ${inputs.length} distinct inputs, bounds ${JSON.stringify(DEFAULT_BOUNDS)})`);
} finally {
  await engine.close();
}
