export { DirectoryFileError, parseDirectory, readDirectoryFile, type DirectoryFile } from "./file.js";
export { boundedObject, mergeProperties, PropertiesError, PROPERTY_LIMITS } from "./properties.js";
export {
  DIRECTORY,
  DIRECTORY_COLLECTION,
  DirectoryStore,
  DirectoryUnavailableError,
  entityKey,
  type DirectoryStoreOptions,
  type EntityKey,
  type LoadOptions,
  type LoadResult,
  type LookupCalls,
} from "./store.js";
export { ACTION_NAME, ACTION_TYPE, ENTITY_ID, ENTITY_TYPE, type DirectoryEntry, type EntityKind } from "./types.js";
