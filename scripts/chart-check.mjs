#!/usr/bin/env node
// Checks the Helm chart (deploy/helm/verdict) with the pinned tools, offline: helm lint
// and helm template with the default values and with each values file in its ci/
// folder, and kubeconform -strict over every rendered manifest against the Kubernetes
// and CRD schemas that npm run tools built (.tools/kubernetes-schemas). A resource
// without a schema is an error, not a skip. Then, for each rendered NetworkPolicy,
// that every port admits exactly the peers the values name for it (grpcFrom,
// authzenFrom, adminFrom), and from everyone only when they name none. Exit 0 when
// everything passes.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { parse, parseAllDocuments } from "yaml";

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
  { name: "default values", files: [] },
  ...readdirSync(join(chart, "ci"))
    .filter((file) => file.endsWith("-values.yaml"))
    .sort()
    .map((file) => ({ name: `ci/${file}`, files: [join(chart, "ci", file)] })),
].map((c) => ({ ...c, args: c.files.flatMap((file) => ["--values", file]) }));

const isMap = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
/** Values as helm coalesces them: maps merged key by key, anything else replaced, null removes the key. */
function coalesce(base, over) {
  const out = { ...base };
  for (const [key, value] of Object.entries(over ?? {})) {
    if (value === null) delete out[key];
    else out[key] = isMap(value) && isMap(out[key]) ? coalesce(out[key], value) : value;
  }
  return out;
}
const valuesOf = (files) =>
  files.reduce((values, file) => coalesce(values, parse(readFileSync(file, "utf8"))), parse(readFileSync(join(chart, "values.yaml"), "utf8")));

/**
 * The problems of the rendered NetworkPolicy against the values: each port (gRPC, AuthZEN's when
 * config.authzen.listen is set, admin) must be admitted from exactly the peers its value lists, in
 * rules that all have a non-empty from; from everyone (a rule without from) only when the value is
 * unset; by no rule when it is [] (adminFrom; the chart refuses [] for the others).
 */
function networkPolicyProblems(values, manifests) {
  const np = values.networkPolicy ?? {};
  const policies = manifests.filter((m) => m?.kind === "NetworkPolicy");
  if (!np.enabled) return policies.length === 0 ? [] : ["a NetworkPolicy is rendered although networkPolicy.enabled is false"];
  if (policies.length !== 1) return [`${policies.length} NetworkPolicies rendered, 1 expected`];
  const rules = policies[0].spec?.ingress ?? [];
  const problems = [];
  for (const rule of rules) {
    if (!Array.isArray(rule.ports) || rule.ports.length === 0) problems.push(`a rule without ports admits every port: ${JSON.stringify(rule)}`);
    if ("from" in rule && (!Array.isArray(rule.from) || rule.from.length === 0))
      problems.push(`a rule with an empty from admits everyone: ${JSON.stringify(rule)}`);
  }
  const listen = values.config?.authzen?.listen;
  const authzenPort = listen ? Number(/([0-9]+)$/.exec(String(listen))?.[1]) : undefined;
  const ports = [
    ["gRPC", "grpc", np.grpcFrom],
    ...(authzenPort ? [["AuthZEN", authzenPort, np.authzenFrom ?? np.grpcFrom]] : []),
    ["admin", "admin", np.adminFrom],
  ];
  for (const [label, port, peers] of ports) {
    const admitting = rules.filter((rule) => (rule.ports ?? []).some((p) => p.port === port));
    const fromEveryone = admitting.some((rule) => !("from" in rule));
    const from = admitting.flatMap((rule) => rule.from ?? []);
    if (peers === undefined || peers === null) {
      if (!fromEveryone) problems.push(`the ${label} port (${port}) is not admitted from everyone, though its value names no peers`);
    } else if (fromEveryone) {
      problems.push(`the ${label} port (${port}) is admitted from everyone, though its value names peers: ${JSON.stringify(peers)}`);
    } else if (!isDeepStrictEqual(from, peers)) {
      problems.push(`the ${label} port (${port}) is admitted from ${JSON.stringify(from)}, its value names ${JSON.stringify(peers)}`);
    }
  }
  const known = new Set(ports.map(([, port]) => port));
  for (const port of rules.flatMap((rule) => rule.ports ?? [])) {
    if (!known.has(port.port)) problems.push(`a rule admits a port the chart does not serve: ${JSON.stringify(port)}`);
  }
  return problems;
}

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

for (const { name, files, args } of cases) {
  run(`helm lint (${name})`, bin("helm"), ["lint", "--strict", "--kube-version", kubernetesVersion, chart, ...args]);
  const rendered = run(`helm template (${name})`, bin("helm"), [
    "template",
    "verdict",
    chart,
    "--namespace",
    "verdict",
    "--kube-version",
    kubernetesVersion,
    ...apiVersions,
    ...args,
  ]);
  if (!rendered.ok) continue;
  const file = join(outDir, `${name.replace(/[^a-z0-9.-]+/gi, "_")}.yaml`);
  writeFileSync(file, rendered.stdout);
  const validated = run(`kubeconform (${name})`, bin("kubeconform"), [
    "-strict",
    "-summary",
    "-kubernetes-version",
    kubernetesVersion,
    "-schema-location",
    join(schemas, "{{ .NormalizedKubernetesVersion }}-strict", "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
    "-schema-location",
    join(schemas, "crds", "{{ .Group }}", "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"),
    file,
  ]);
  if (validated.ok) process.stderr.write(`chart-check: ${name}: ${validated.stdout.trim().replace(/^Summary: /, "")}\n`);
  const manifests = parseAllDocuments(rendered.stdout).map((document) => document.toJS());
  const problems = networkPolicyProblems(valuesOf(files), manifests);
  if (problems.length > 0) {
    failures.push(`NetworkPolicy (${name})`);
    process.stderr.write(`chart-check: NetworkPolicy (${name}) failed\n${problems.map((p) => `  ${p}\n`).join("")}`);
  }
}

if (failures.length > 0) {
  process.stderr.write(`chart-check: ${failures.length} failed: ${failures.join("; ")}\n`);
  process.exit(1);
}
process.stderr.write(`chart-check: ${cases.length} value sets linted, rendered, valid, and their NetworkPolicy admits what the values say\n`);
