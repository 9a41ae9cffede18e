export { isJsonObject, type JsonObject, type JsonValue } from "./json.js";
export { fromStruct, toStruct, type StructMessage, type ValueMessage } from "./struct.js";
export { loadVerdictProto, protoRoot, PROTO_OPTIONS, type VerdictGrpcPackage } from "./proto.js";
export * from "./messages.js";
