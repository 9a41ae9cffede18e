// The signature check on the calling thread holds a key to what jose would: imported
// for the token's algorithm, and an RSA modulus of at least 2,048 bits. Real keys.
import { generateKeyPairSync, KeyObject, sign, webcrypto } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signatureVerifies } from "../../src/token/signature.js";

const signingInput = `${Buffer.from('{"alg":"RS256"}').toString("base64url")}.${Buffer.from('{"sub":"u"}').toString("base64url")}`;

function rsaToken(modulusLength: number) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength });
  return { publicKey, token: `${signingInput}.${sign("sha256", Buffer.from(signingInput), privateKey).toString("base64url")}` };
}

/** The key as WebCrypto (and jose's JWKS) would hold it, imported for one algorithm (KeyObject.toCryptoKey is Node 22.10+). */
function imported(key: KeyObject, algorithm: { name: string; hash: string }) {
  return webcrypto.subtle.importKey("spki", key.export({ type: "spki", format: "der" }), algorithm, false, ["verify"]);
}

describe("signatureVerifies", () => {
  it("verifies an RS256 signature under its key, as a KeyObject and as a CryptoKey", async () => {
    const { publicKey, token } = rsaToken(2048);
    expect(signatureVerifies(token, "RS256", publicKey)).toBe(true);
    expect(signatureVerifies(token, "RS256", await imported(publicKey, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }))).toBe(true);
    expect(signatureVerifies(`${token.slice(0, -4)}AAAA`, "RS256", publicKey)).toBe(false);
  });

  it("refuses a key imported for another algorithm, hash or curve", async () => {
    const { publicKey, token } = rsaToken(2048);
    const pss = await imported(publicKey, { name: "RSA-PSS", hash: "SHA-256" });
    expect(() => signatureVerifies(token, "RS256", pss)).toThrow(expect.objectContaining({ reason: "signature_invalid" }));
    const sha512 = await imported(publicKey, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" });
    expect(() => signatureVerifies(token, "RS256", sha512)).toThrow(expect.objectContaining({ reason: "signature_invalid" }));
    const p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey;
    expect(() => signatureVerifies(token, "ES256", p384)).toThrow(expect.objectContaining({ reason: "signature_invalid" }));
    expect(() => signatureVerifies(token, "EdDSA", publicKey)).toThrow(expect.objectContaining({ reason: "signature_invalid" }));
  });

  it("refuses an RSA key under 2,048 bits and a private key", () => {
    const { publicKey, token } = rsaToken(1024);
    expect(() => signatureVerifies(token, "RS256", publicKey)).toThrow(/RSA under 2048 bits/);
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    expect(privateKey).toBeInstanceOf(KeyObject);
    expect(() => signatureVerifies(token, "RS256", privateKey)).toThrow(expect.objectContaining({ reason: "signature_invalid" }));
  });
});
