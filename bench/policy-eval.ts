// npm run bench:policy: what the evaluation bounds cost per Check.
//
// Evaluates the cases of policies/testdata/decisions_test.json (the table opa test
// and vitest share, test/support/cases.ts) with the built bundle
// (build/bundle.tar.gz) three ways and prints latency percentiles:
//   in-thread   opa-wasm on the main thread, no bounds (the floor)
//   engine      PolicyEngine: a worker pool with the time and memory bounds
//               (what the server does), one evaluation at a time
//   engine x64  the same with 64 evaluations in flight (throughput)
// BENCH_ITERATIONS (default 20000) sets how many evaluations each way.
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import { defaultBundlePath } from "../src/paths.js";
import { DECISION_ENTRYPOINT, DEFAULT_BOUNDS, loadBundle, PolicyEngine, type PolicyInput } from "../src/policy/index.js";
import { caseInput, loadCaseTable } from "../test/support/cases.js";

const ITERATIONS = Number(process.env["BENCH_ITERATIONS"] ?? 20_000);
const table = loadCaseTable();
const inputs: PolicyInput[] = table.decision_cases.map((c) => caseInput(table, c));
const input = (i: number) => inputs[i % inputs.length] as PolicyInput;
const bundle = await loadBundle(defaultBundlePath);

function report(name: string, samples: number[], totalMs: number): void {
  const sorted = [...samples].sort((x, y) => x - y);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
  const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`.padStart(9);
  console.log(
    `${name.padEnd(12)} p50 ${us(at(50))}  p90 ${us(at(90))}  p99 ${us(at(99))}  max ${us(sorted[sorted.length - 1] ?? NaN)}  ${Math.round((samples.length / totalMs) * 1000)} eval/s`,
  );
}

async function timed(name: string, inFlight: number, evaluate: (i: number) => Promise<unknown>): Promise<void> {
  const samples: number[] = [];
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < ITERATIONS) {
      const i = next++;
      const t = performance.now();
      await evaluate(i);
      samples.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  report(name, samples, performance.now() - start);
}

{
  const policy = await loadPolicy(bundle.wasm);
  policy.setData(bundle.data);
  for (let i = 0; i < 2_000; i++) policy.evaluate(input(i), DECISION_ENTRYPOINT);
  const samples: number[] = [];
  const start = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const t = performance.now();
    policy.evaluate(input(i), DECISION_ENTRYPOINT);
    samples.push(performance.now() - t);
  }
  report("in-thread", samples, performance.now() - start);
}

const engine = await PolicyEngine.load(bundle, { bounds: DEFAULT_BOUNDS });
try {
  for (let i = 0; i < 2_000; i++) await engine.decide(input(i));
  await timed("engine", 1, (i) => engine.decide(input(i)));
  await timed("engine x64", 64, (i) => engine.decide(input(i)));
  console.log(`(${ITERATIONS} evaluations each, ${inputs.length} distinct inputs, bounds ${JSON.stringify(DEFAULT_BOUNDS)})`);
} finally {
  await engine.close();
}
