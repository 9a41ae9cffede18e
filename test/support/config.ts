// The parts of a test configuration file that name who may ask: the test issuer
// (its JWKS file) and one calling API with its key's hash, for tests that write a
// file for `verdict serve --config`.
import { hashApiKey } from "../../src/server/index.js";
import { TEST_AUDIENCE, TEST_SCOPES, type TestIssuer } from "./issuer.js";

export function callersConfig(issuer: TestIssuer, apiKey: string): { issuers: object[]; apis: object[] } {
  return {
    issuers: [{ issuer: issuer.issuer, jwks_file: issuer.jwksPath, algorithms: [issuer.alg] }],
    apis: [{ name: "invoices-api", audience: TEST_AUDIENCE, key_sha256: hashApiKey(apiKey), scopes: [...TEST_SCOPES] }],
  };
}
