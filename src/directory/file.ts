// A directory file: the `subjects` / `resources` / `actions` shape of the AuthZEN
// interop and certification fixtures. Unknown top-level keys ($comment) are ignored.
import { readFileSync } from "node:fs";
import type { JsonObject } from "@verdict/sdk/wire";
import { z } from "zod";
import { VerdictError } from "../errors/index.js";
import { boundedObject, PropertiesError } from "./properties.js";
import { ACTION_NAME, ACTION_TYPE, ENTITY_ID, ENTITY_TYPE, type DirectoryEntry } from "./types.js";

export class DirectoryFileError extends VerdictError {
  constructor(message: string) {
    super("directory_file_invalid", message);
  }
}

const properties = z.record(z.string(), z.unknown()).optional();
const entity = z.looseObject({
  type: z.string().regex(ENTITY_TYPE, "type: 1-64 letters, digits and : . _ -"),
  id: z.string().regex(ENTITY_ID, "id: 1-256 characters without control characters"),
  properties,
});
const action = z.looseObject({
  name: z.string().regex(ACTION_NAME, "name: 1-128 letters, digits and : . _ / - (starting with a letter or digit)"),
  properties,
});
const schema = z.looseObject({
  subjects: z.array(entity).default([]),
  resources: z.array(entity).default([]),
  actions: z.array(action).default([]),
});

export interface DirectoryFile {
  subjects: DirectoryEntry[];
  resources: DirectoryEntry[];
  actions: DirectoryEntry[];
}

export function parseDirectory(raw: unknown, source = "directory"): DirectoryFile {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new DirectoryFileError(`${source}: ${z.prettifyError(parsed.error)}`);
  const props = (value: Record<string, unknown> | undefined, where: string): JsonObject => {
    try {
      return boundedObject(value ?? {}, where);
    } catch (error) {
      if (error instanceof PropertiesError) throw new DirectoryFileError(`${source}: ${error.message}`);
      throw error;
    }
  };
  const out: DirectoryFile = {
    subjects: parsed.data.subjects.map((e, i) => ({ kind: "subject", type: e.type, id: e.id, properties: props(e.properties, `subjects[${i}].properties`) })),
    resources: parsed.data.resources.map((e, i) => ({
      kind: "resource",
      type: e.type,
      id: e.id,
      properties: props(e.properties, `resources[${i}].properties`),
    })),
    // An action's properties in these files describe its parameters (e.g. soft:
    // {type: boolean}), not values; they are kept, but never merged into a request.
    actions: parsed.data.actions.map((e, i) => ({
      kind: "action",
      type: ACTION_TYPE,
      id: e.name,
      properties: props(e.properties, `actions[${i}].properties`),
    })),
  };
  for (const list of [out.subjects, out.resources, out.actions]) {
    const seen = new Set<string>();
    for (const entry of list) {
      const key = `${entry.type}/${entry.id}`;
      if (seen.has(key)) throw new DirectoryFileError(`${source}: ${entry.kind} ${key} is listed twice`);
      seen.add(key);
    }
  }
  return out;
}

export function readDirectoryFile(path: string): DirectoryFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DirectoryFileError(`cannot read directory file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new DirectoryFileError(`directory file ${path} is not JSON: ${(error as Error).message}`);
  }
  return parseDirectory(raw, path);
}
