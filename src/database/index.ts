export { defineCollection, type CollectionDef } from "./collection.js";
export { Database, type DatabaseOptions } from "./database.js";
