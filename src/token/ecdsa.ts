// A JWS ECDSA signature as node:crypto verifies it fastest: DER.
//
// JWS carries an ECDSA signature as r || s, each as many bytes as the curve's order
// (RFC 7518 §3.4: IEEE P1363); node:crypto also verifies that form (`dsaEncoding:
// "ieee-p1363"`), but on Node 24 its conversion costs about 27 µs of CPU a
// verification (ES256: 90 µs against 63 µs for the same signature as DER; Node 20 and
// 22: 67–69 against 63), a third more per token a decision verifies. The DER of
// ECDSA-Sig-Value (RFC 3279 §2.2.3: a SEQUENCE of the two INTEGERs) is written here;
// node:crypto then checks the signature as before.

/** The byte length of r and of s in a JWS signature on each curve. */
export const JOSE_INTEGER_BYTES = { "P-256": 32, "P-384": 48, "P-521": 66 } as const;

/**
 * The DER ECDSA-Sig-Value of a JWS signature whose r and s are `size` bytes each;
 * undefined when it is not exactly 2 × `size` bytes (it cannot verify).
 */
export function joseSignatureToDer(signature: Uint8Array, size: number): Buffer | undefined {
  if (signature.length !== 2 * size) return undefined;
  const r = integerSpan(signature, 0, size);
  const s = integerSpan(signature, size, 2 * size);
  const length = r.length + s.length; // at most 2 × (2 + 67) = 138 bytes (P-521): a length byte of its own past 127
  const header = length < 0x80 ? 2 : 3;
  const der = Buffer.alloc(header + length);
  der[0] = 0x30;
  if (header === 3) der[1] = 0x81;
  der[header - 1] = length;
  writeInteger(der, header, signature, r);
  writeInteger(der, header + r.length, signature, s);
  return der;
}

/** Where an unsigned big-endian integer's bytes start once its leading zeros are left out, whether DER needs a 0x00 before them (their first bit is set: it is not negative), and its DER INTEGER's length. */
interface IntegerSpan {
  start: number;
  end: number;
  pad: number;
  length: number;
}

function integerSpan(bytes: Uint8Array, from: number, end: number): IntegerSpan {
  let start = from;
  while (start < end - 1 && bytes[start] === 0) start += 1;
  const pad = (bytes[start] ?? 0) & 0x80 ? 1 : 0;
  return { start, end, pad, length: 2 + pad + end - start };
}

function writeInteger(der: Buffer, at: number, bytes: Uint8Array, { start, end, pad, length }: IntegerSpan): void {
  der[at] = 0x02;
  der[at + 1] = length - 2;
  der.set(bytes.subarray(start, end), at + 2 + pad); // the pad byte, if any, is the 0 Buffer.alloc left
}
