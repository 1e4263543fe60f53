// Byte helpers shared by the SDK's modules.

const te = new TextEncoder();

/** utf8 encodes s. */
export function utf8(s: string): Uint8Array {
  return te.encode(s);
}

/** hex renders b as lowercase hex. */
export function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** fromHex reads lowercase or uppercase hex; it throws on anything else. */
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError(`${JSON.stringify(s.slice(0, 80))} is not hex`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** bytesEqual compares two byte strings. */
export function bytesEqual(a: Uint8Array | undefined | null, b: Uint8Array | undefined | null): boolean {
  const x = a ?? new Uint8Array(0);
  const y = b ?? new Uint8Array(0);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** concat joins byte strings. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** u32be is n as 4 big-endian bytes. */
export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

/** u64be is n as 8 big-endian bytes (two's complement for negative values). */
export function u64be(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, n));
  return b;
}

/** lengthPrefixed is each field preceded by its length (4 bytes, big-endian), as the protocol's derivations hash them. */
export function lengthPrefixed(fields: Uint8Array[]): Uint8Array {
  return concat(...fields.flatMap((f) => [u32be(f.length), f]));
}

/** randomBytes draws n bytes from the platform's CSPRNG (Web Crypto, in Node ≥ 20 and browsers). */
export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}
