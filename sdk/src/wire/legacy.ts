// The surface bench/run.mjs was written against when the wire was loaded with
// proto-loader: a loaded package with service constructors whose methods have the
// .proto's names, and a Struct encoder. Both now sit on the generated definitions.
// Delete this file when the bench moves to the shared test support (TypeScript).
import { makeGenericClientConstructor, type ServiceClientConstructor, type ServiceDefinition } from "@grpc/grpc-js";
import { AuditServiceService, PolicyDecisionServiceService } from "../../gen/verdict/v1/verdict.js";
import { AUDIT_SERVICE, POLICY_DECISION_SERVICE } from "./constants.js";
import { jsonObject, type JsonObject } from "./json.js";

/** A service definition whose methods are also reachable by their .proto names (Check, not check). */
function withProtoNames(definition: ServiceDefinition, name: string): ServiceClientConstructor {
  const renamed = Object.fromEntries(
    Object.entries(definition).map(([method, attributes]) => [method, { ...attributes, originalName: method.charAt(0).toUpperCase() + method.slice(1) }]),
  );
  return makeGenericClientConstructor(renamed, name);
}

/** @deprecated Use PolicyDecisionServiceClient and AuditServiceClient. */
export function loadVerdictProto(): { verdict: { v1: { PolicyDecisionService: ServiceClientConstructor; AuditService: ServiceClientConstructor } } } {
  return {
    verdict: {
      v1: {
        PolicyDecisionService: withProtoNames(PolicyDecisionServiceService, POLICY_DECISION_SERVICE),
        AuditService: withProtoNames(AuditServiceService, AUDIT_SERVICE),
      },
    },
  };
}

/** @deprecated A Struct field takes the JSON object itself; this only checks that it can be sent. */
export function toStruct(object: JsonObject): JsonObject {
  return jsonObject(object, "a Struct");
}
