// docs/configuration.md is the reference of every configuration key: each key the
// schema accepts has its row, with the schema's default, and the reference names no
// key the schema does not know. examples/deploy/verdict.yaml is a complete
// production configuration Verdict accepts.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { configSchema, loadConfigFile } from "../../src/config/index.js";
import { packageRoot } from "../../src/paths.js";

interface JsonSchema {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  default?: unknown;
  not?: unknown;
}

/** Every key path of the schema (arrays as [], maps not entered), with its default when it has one. */
function schemaKeys(): Map<string, { default?: unknown; renamed: boolean }> {
  const schema = configSchema({ baseDir: "/", env: {}, profile: "production" });
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const keys = new Map<string, { default?: unknown; renamed: boolean }>();
  const walk = (node: JsonSchema, prefix: string) => {
    for (const branch of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) walk(branch, prefix);
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const path = `${prefix}${key}`;
      keys.set(path, { ...("default" in child ? { default: child.default } : {}), renamed: child.not !== undefined });
      walk(child, `${path}.`);
    }
    if (node.items) walk(node.items, prefix.replace(/\.$/, "[]."));
  };
  walk(json, "");
  return keys;
}

/** The reference tables' rows: key (its code span) and the default cell. */
function documentedKeys(): Map<string, string> {
  const doc = readFileSync(join(packageRoot, "docs", "configuration.md"), "utf8");
  const reference = doc.slice(doc.indexOf("## Reference"), doc.indexOf("## Environment"));
  const rows = new Map<string, string>();
  for (const line of reference.split("\n")) {
    const match = /^\| `([^`]+)` \| ([^|]*) \|/.exec(line);
    if (match) rows.set(match[1]!, match[2]!.trim());
  }
  return rows;
}

/** A default as written in a cell's first code span, or as JSON, compared without quotes, spaces or separators. */
const normalize = (text: string) => text.replace(/[`"'\s,_]/g, "");

describe("docs/configuration.md", () => {
  const keys = schemaKeys();
  const rows = documentedKeys();

  it("finds the schema's keys and the reference's rows", () => {
    expect(keys.size).toBeGreaterThan(80);
    expect(rows.size).toBeGreaterThan(80);
  });

  it("has a row for every key the schema accepts", () => {
    const missing = [...keys.keys()].filter((key) => !rows.has(key));
    expect(missing).toEqual([]);
  });

  it("gives every key the schema's default", () => {
    for (const [key, { default: fallback }] of keys) {
      if (fallback === undefined) continue;
      const cell = rows.get(key) ?? "";
      const written = /^`([^`]*)`/.exec(cell)?.[1];
      expect(written, `${key}: the default cell starts with the default in a code span`).toBeDefined();
      expect(normalize(written!), `${key}'s default`).toBe(normalize(typeof fallback === "string" ? fallback : JSON.stringify(fallback)));
    }
  });

  it("names no key the schema does not know", () => {
    expect([...rows.keys()].filter((key) => !keys.has(key))).toEqual([]);
  });
});

describe("examples/deploy/verdict.yaml", () => {
  const path = join(packageRoot, "examples", "deploy", "verdict.yaml");
  const text = readFileSync(path, "utf8");

  it("is a configuration Verdict accepts, its secrets from the environment and a mounted file", () => {
    // The mounted secret, here a temporary file: the rest of the file as it is.
    const dir = mkdtempSync(join(tmpdir(), "verdict-example-"));
    writeFileSync(join(dir, "mongodb-uri"), "mongodb://verdict:pw@db-1,db-2,db-3/?replicaSet=rs0\n");
    expect(text).toContain("mongodb_uri_file: /run/secrets/verdict/mongodb-uri\n");
    writeFileSync(join(dir, "verdict.yaml"), text.replace("/run/secrets/verdict/mongodb-uri", join(dir, "mongodb-uri")));
    const config = loadConfigFile(join(dir, "verdict.yaml"), { variables: { OTLP_API_KEY: "k" } });
    expect(config.mongodb_uri).toBe("mongodb://verdict:pw@db-1,db-2,db-3/?replicaSet=rs0");
    expect(config.tls?.client_ca_file).toBeDefined();
    expect(config.listen).toEqual({ host: "0.0.0.0", port: 50051 });
    expect(config.admin_listen).toEqual({ host: "0.0.0.0", port: 9464 });
    expect(config.tracing?.headers).toEqual({ "x-api-key": "k" });
    // The primary of several processes hands each this value as JSON (Node's IPC): it survives the trip whole.
    expect(JSON.parse(JSON.stringify(config))).toStrictEqual(config);
  });

  it("shows every top-level key, set or commented with its default", () => {
    const top = [...schemaKeys().entries()].filter(([key, { renamed }]) => !key.includes(".") && !key.includes("[") && !renamed).map(([key]) => key);
    const shown = top.filter((key) => new RegExp(`^#? ?${key}:`, "m").test(text));
    expect(top.filter((key) => !shown.includes(key))).toEqual([]);
  });

  it("explains each key it sets with a comment", () => {
    const lines = text.split("\n");
    const uncommented = lines.filter((line, i) => /^[a-z_]+:/.test(line) && !line.includes("#") && !(lines[i - 1] ?? "").startsWith("#"));
    expect(uncommented).toEqual([]);
  });
});
