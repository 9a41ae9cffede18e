#!/usr/bin/env node
// Builds the JSON schemas kubeconform validates the Helm chart against, offline:
// Kubernetes' own OpenAPI (v2) document from the pinned k8s.io/kubernetes Go module,
// and the CRDs of the operators the chart can target (ServiceMonitor, MongoDBCommunity)
// from their pinned Go modules. The pins (module, version, go.sum hash) are in
// tools/kubeconform/schemas.json; `go mod download` fetches each module through the Go
// module proxy and checks it against the checksum database, and we check the hash again.
//
// The conversion follows openapi2jsonschema (as used for kubeconform's default schemas):
// kind and apiVersion become enums, "int-or-string" becomes string|integer, quantities
// string|number, optional fields accept null, and (strict) every object that lists its
// properties refuses others. Definitions stay in one _definitions.json that the per-kind
// files $ref, instead of being inlined into each file (the same checks, a twentieth of
// the size).
//
// Usage: node scripts/kubernetes-schemas.mjs OUT_DIR
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const pinsFile = join(root, "tools", "kubeconform", "schemas.json");

/** Downloads a pinned module with the go command and returns its directory. */
function download({ module, version, sum }) {
  const scratch = mkdtempSync(join(tmpdir(), "verdict-schemas-")); // outside any go.mod: nothing is edited
  try {
    const result = spawnSync("go", ["mod", "download", "-json", `${module}@${version}`], { cwd: scratch, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
    const info = result.stdout ? JSON.parse(result.stdout) : {};
    if (result.status !== 0 || info.Error) throw new Error(`go mod download ${module}@${version} failed: ${info.Error ?? result.stderr}`);
    if (info.Sum !== sum) throw new Error(`${module}@${version} has hash ${info.Sum}, but tools/kubeconform/schemas.json pins ${sum}`);
    return info.Dir;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Applies the openapi2jsonschema conversions to one schema node, recursively. */
function convert(node, { strict }) {
  if (Array.isArray(node)) return node.map((item) => convert(item, { strict }));
  if (node === null || typeof node !== "object") return node;
  if (node.format === "int-or-string") return { oneOf: [{ type: "string" }, { type: "integer" }] };
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "description" || key.startsWith("x-kubernetes-")) continue;
    if (key === "$ref") out.$ref = value.replace(/^#\/definitions\//, "_definitions.json#/definitions/");
    else if (key === "properties") {
      out.properties = {};
      for (const [name, property] of Object.entries(value)) {
        out.properties[name] = nullable(convert(property, { strict }), !(node.required ?? []).includes(name));
      }
    } else out[key] = convert(value, { strict });
  }
  if (strict && out.properties && !("additionalProperties" in out)) out.additionalProperties = false;
  return out;
}

/** An optional field may be null (kubectl and the API server treat null as absent). */
function nullable(schema, optional) {
  if (!optional || typeof schema.type !== "string") return schema;
  return { ...schema, type: [schema.type, "null"] };
}

/** kubeconform's file name for a kind: kind[-group]-version, the group cut at its first dot. */
function kindFile(kind, group, version) {
  return [kind.toLowerCase(), ...(group ? [group.split(".")[0].toLowerCase()] : []), version.toLowerCase()].join("-") + ".json";
}

function kubernetesSchemas(swaggerPath, outDir) {
  const swagger = JSON.parse(readFileSync(swaggerPath, "utf8"));
  const definitions = {};
  for (const [name, definition] of Object.entries(swagger.definitions)) {
    definitions[name] = name === "io.k8s.apimachinery.pkg.api.resource.Quantity" ? { oneOf: [{ type: "string" }, { type: "number" }] } : convert(definition, { strict: true });
  }
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "_definitions.json"), JSON.stringify({ definitions }));
  let count = 0;
  for (const [name, definition] of Object.entries(swagger.definitions)) {
    for (const gvk of definition["x-kubernetes-group-version-kind"] ?? []) {
      const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
      const schema = structuredClone(definitions[name]);
      schema.properties.apiVersion = { type: "string", enum: [apiVersion] };
      schema.properties.kind = { type: "string", enum: [gvk.kind] };
      writeFileSync(join(outDir, kindFile(gvk.kind, gvk.group, gvk.version)), JSON.stringify(schema));
      count += 1;
    }
  }
  return count;
}

/** A CRD's versions, as kubeconform's CRD catalogue names them: GROUP/KIND_VERSION.json. */
function crdSchemas(crdPath, outDir) {
  let count = 0;
  for (const document of parseAllDocuments(readFileSync(crdPath, "utf8"))) {
    const crd = document.toJS();
    if (crd?.kind !== "CustomResourceDefinition") continue;
    for (const version of crd.spec.versions ?? []) {
      const schema = version.schema?.openAPIV3Schema;
      if (!schema) continue;
      const converted = convert(schema, { strict: true });
      delete converted.additionalProperties; // as openapi2jsonschema: the root stays open (apiVersion, kind, metadata)
      const dir = join(outDir, crd.spec.group);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${crd.spec.names.kind.toLowerCase()}_${version.name}.json`), JSON.stringify(converted));
      count += 1;
    }
  }
  return count;
}

export function buildSchemas(outDir) {
  const pins = JSON.parse(readFileSync(pinsFile, "utf8"));
  rmSync(outDir, { recursive: true, force: true });
  const k8s = pins.kubernetes;
  const kinds = kubernetesSchemas(join(download(k8s), k8s.path), join(outDir, `${k8s.version}-strict`));
  let crds = 0;
  for (const pin of pins.crds) crds += crdSchemas(join(download(pin), pin.path), join(outDir, "crds"));
  return { kubernetesVersion: k8s.version.replace(/^v/, ""), kinds, crds };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2];
  if (!outDir) {
    process.stderr.write("usage: node scripts/kubernetes-schemas.mjs OUT_DIR\n");
    process.exit(2);
  }
  const result = buildSchemas(outDir);
  process.stdout.write(`${result.kinds} Kubernetes ${result.kubernetesVersion} kinds and ${result.crds} CRD versions in ${outDir}\n`);
}
