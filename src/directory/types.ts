import type { JsonObject } from "@verdict/sdk/wire";

export type EntityKind = "subject" | "resource" | "action";

/** One known entity. Actions have the fixed type "action" and their name as id. */
export interface DirectoryEntry {
  kind: EntityKind;
  type: string;
  id: string;
  properties: JsonObject;
}

/** The type under which actions are kept. */
export const ACTION_TYPE = "action";

/** Entity types: the gRPC edge's resource type pattern. */
export const ENTITY_TYPE = /^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/;
/** Action names: the gRPC edge's action pattern. */
export const ACTION_NAME = /^[A-Za-z0-9][A-Za-z0-9:._/-]{0,127}$/;
/** Entity ids: 1-256 characters without control characters. */
// eslint-disable-next-line no-control-regex -- it refuses control characters
export const ENTITY_ID = /^[^\u0000-\u001f\u007f]{1,256}$/;
