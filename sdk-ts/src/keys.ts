// Account keys, in the file format of `phala keys` (Go's sdk.SaveKey):
// {"name", "type": "ed25519", "address", "pub_key", "seed"}, hex.

import { fromHex, hex, randomBytes } from "./bytes.js";
import { addressOf, publicKeyOf } from "./crypto.js";
import { ErrBadAddress, ProtocolError } from "./errors.js";

/** Key is a named ed25519 account key. */
export class Key {
  readonly publicKey: Uint8Array;
  readonly address: Uint8Array;

  /** seed is the 32-byte ed25519 private key. */
  constructor(readonly name: string, readonly seed: Uint8Array) {
    if (seed.length !== 32) throw new TypeError(`ed25519 seed of ${seed.length} bytes, want 32`);
    this.publicKey = publicKeyOf(seed);
    this.address = addressOf(this.publicKey);
  }

  /** generate makes a new random key. */
  static generate(name: string): Key {
    return new Key(name, randomBytes(32));
  }

  /** addressHex is the account address as the CLI prints it. */
  get addressHex(): string {
    return hex(this.address);
  }

  /** toFile renders the key file `phala keys` writes (keep it secret: it holds the seed). */
  toFile(): string {
    return JSON.stringify({ name: this.name, type: "ed25519", address: hex(this.address), pub_key: hex(this.publicKey), seed: hex(this.seed) }, null, 2) + "\n";
  }

  /**
   * fromFile reads a key file of `phala keys` and checks that its recorded
   * public key and address match its seed.
   */
  static fromFile(text: string): Key {
    let f: { name?: unknown; type?: unknown; address?: unknown; pub_key?: unknown; seed?: unknown };
    try {
      f = JSON.parse(text);
    } catch (e) {
      throw new TypeError(`key file: ${(e as Error).message}`);
    }
    if (f.type !== "ed25519") throw new TypeError(`key file: type ${JSON.stringify(f.type)}, want "ed25519"`);
    if (typeof f.seed !== "string" || !/^[0-9a-fA-F]{64}$/.test(f.seed)) throw new TypeError("key file: bad seed");
    const k = new Key(typeof f.name === "string" ? f.name : "", fromHex(f.seed));
    if (f.pub_key !== hex(k.publicKey) || f.address !== hex(k.address)) throw new TypeError("key file: public key or address does not match the seed");
    return k;
  }
}

/** parseAddress reads a hex account address. */
export function parseAddress(s: string): Uint8Array {
  if (!/^[0-9a-fA-F]{40}$/.test(s)) throw new ProtocolError(ErrBadAddress, `${JSON.stringify(s)} is not 20 hex-encoded bytes`);
  return fromHex(s);
}
