export { isJsonObject, type JsonObject, type JsonValue } from "./json.js";
export { fromStruct, MAX_STRUCT_DEPTH, toStruct, type StructMessage, type ValueMessage } from "./struct.js";
export { loadVerdictProto, protoRoot, PROTO_OPTIONS, type VerdictGrpcPackage } from "./proto.js";
export * from "./messages.js";
