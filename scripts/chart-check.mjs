#!/usr/bin/env node
// Checks the Helm chart (deploy/helm/verdict) with the pinned tools, offline: helm lint
// and helm template with the default values and with each values file in its ci/
// folder, and kubeconform -strict over every rendered manifest against the Kubernetes
// and CRD schemas that npm run tools built (.tools/kubernetes-schemas). A resource
// without a schema is an error, not a skip. Exit 0 when everything passes.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const chart = join(root, "deploy", "helm", "verdict");
const bin = (name) => join(root, ".tools", "bin", name);
const schemas = join(root, ".tools", "kubernetes-schemas");
const pins = JSON.parse(readFileSync(join(root, "tools", "kubeconform", "schemas.json"), "utf8"));
const kubernetesVersion = pins.kubernetes.version.replace(/^v/, "");
const outDir = join(root, ".test-results", "chart");
// The ServiceMonitor is made only where the Prometheus operator's API exists: render as such a cluster.
const apiVersions = ["--api-versions", "monitoring.coreos.com/v1"];

for (const tool of [bin("helm"), bin("kubeconform"), schemas]) {
  if (!existsSync(tool)) {
    process.stderr.write(`chart-check: ${tool} is missing: run npm run tools\n`);
    process.exit(1);
  }
}
mkdirSync(outDir, { recursive: true });

const cases = [
  { name: "default values", args: [] },
  ...readdirSync(join(chart, "ci"))
    .filter((file) => file.endsWith("-values.yaml"))
    .sort()
    .map((file) => ({ name: `ci/${file}`, args: ["--values", join(chart, "ci", file)] })),
];

const failures = [];
function run(label, command, args) {
  const result = spawnSync(command, args, { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const ok = !result.error && result.status === 0;
  if (!ok) {
    failures.push(label);
    process.stderr.write(`chart-check: ${label} failed\n${result.stdout ?? ""}${result.stderr ?? result.error?.message ?? ""}\n`);
  }
  return { ok, stdout: result.stdout ?? "" };
}

for (const { name, args } of cases) {
  run(`helm lint (${name})`, bin("helm"), ["lint", "--strict", "--kube-version", kubernetesVersion, chart, ...args]);
  const rendered = run(`helm template (${name})`, bin("helm"), [
    "template", "verdict", chart, "--namespace", "verdict", "--kube-version", kubernetesVersion, ...apiVersions, ...args,
  ]);
  if (!rendered.ok) continue;
  const file = join(outDir, `${name.replace(/[^a-z0-9.-]+/gi, "_")}.yaml`);
  writeFileSync(file, rendered.stdout);
  const validated = run(`kubeconform (${name})`, bin("kubeconform"), [
    "-strict",
    "-summary",
    "-kubernetes-version", kubernetesVersion,
    "-schema-location", join(schemas, "{{ .NormalizedKubernetesVersion }}-strict", "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
    "-schema-location", join(schemas, "crds", "{{ .Group }}", "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"),
    file,
  ]);
  if (validated.ok) process.stderr.write(`chart-check: ${name}: ${validated.stdout.trim().replace(/^Summary: /, "")}\n`);
}

if (failures.length > 0) {
  process.stderr.write(`chart-check: ${failures.length} failed: ${failures.join("; ")}\n`);
  process.exit(1);
}
process.stderr.write(`chart-check: ${cases.length} value sets linted, rendered and valid\n`);
