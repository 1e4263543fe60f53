// The protocol's cryptography (Go's protocol/sign.go, keys.go, query.go,
// contracts.go, runtime.go), built only from the field's libraries:
// @noble/curves (ed25519), @noble/hashes, @noble/ciphers
// (ChaCha20-Poly1305) and @hpke/core with X-Wing (@hpke/hybridkem-x-wing),
// which interoperates with Go's crypto/hpke MLKEM768X25519 (the
// cross-language vectors check both directions).

import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256, sha384, sha512 } from "@noble/hashes/sha2.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { CipherSuite, HkdfSha256 } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { XWing } from "@hpke/hybridkem-x-wing";
import { concat, hex, lengthPrefixed, u32be, u64be, utf8 } from "./bytes.js";

/** Signature contexts: every kind of signed bytes has its own (Go's protocol.SigContext). */
export const SigContext = {
  tx: "phala/tx/v1",
  message: "phala/msg/v1",
  governance: "phala/gov/v1",
  simQuote: "phala/sim-quote/v1",
  query: "phala/query/v2",
  response: "phala/response/v2",
  keyAnnounce: "phala/key-announce/v1",
  endpoint: "phala/endpoint/v1",
  snapshot: "phala/snapshot/v1",
  gatekeeper: "phala/gatekeeper/v1",
  stateRequest: "phala/state-request/v1",
} as const;
export type SigContext = (typeof SigContext)[keyof typeof SigContext];

/** signingInput is the exact byte string a signature covers: the context, then the data. */
export function signingInput(ctx: string, data: Uint8Array): Uint8Array {
  return concat(utf8(ctx), data);
}

/** sign signs data under ctx with a 32-byte ed25519 seed. */
export function sign(seed: Uint8Array, ctx: string, data: Uint8Array): Uint8Array {
  return ed25519.sign(signingInput(ctx, data), seed);
}

/**
 * verify reports whether sig is pub's signature of data under ctx, by
 * RFC 8032's rules as Go's crypto/ed25519 applies them; malformed keys or
 * signatures verify as false.
 */
export function verify(pub: Uint8Array, ctx: string, data: Uint8Array, sig: Uint8Array): boolean {
  if (pub.length !== 32 || sig.length !== 64) return false;
  try {
    return ed25519.verify(sig, signingInput(ctx, data), pub, { zip215: false });
  } catch {
    return false;
  }
}

/** publicKeyOf returns the ed25519 public key of a seed. */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

/** addressOf derives an account address: the first 20 bytes of SHA-256 of the public key. */
export function addressOf(pub: Uint8Array): Uint8Array {
  return sha256(pub).slice(0, 20);
}

// --- HPKE: X-Wing, HKDF-SHA256, ChaCha20-Poly1305 (DESIGN §4.3) ---

/** The length of an X-Wing encapsulated key, which prefixes every sealed box. */
export const XWingEncLength = 1120;
/** ReplyExporter is the HPKE exporter context of reply secrets. */
export const ReplyExporter = "phala/reply/v1";

let suiteCache: CipherSuite | undefined;
function suite(): CipherSuite {
  suiteCache ??= new CipherSuite({ kem: new XWing(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
  return suiteCache;
}

/**
 * hpkeSealExport encrypts plaintext to a serialized X-Wing public key
 * under info and aad, returning enc || ciphertext and the context's reply
 * secret (RFC 9180 §5.3, exporter context ReplyExporter).
 */
export async function hpkeSealExport(recipient: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<{ sealed: Uint8Array; secret: Uint8Array }> {
  const st = suite();
  const pk = await st.kem.deserializePublicKey(copyBuffer(recipient));
  const sender = await st.createSenderContext({ recipientPublicKey: pk, info: copyBuffer(info) });
  const ct = await sender.seal(copyBuffer(plaintext), copyBuffer(aad));
  const secret = await sender.export(copyBuffer(utf8(ReplyExporter)), 32);
  return { sealed: concat(new Uint8Array(sender.enc), new Uint8Array(ct)), secret: new Uint8Array(secret) };
}

/** hpkeOpenExport decrypts what hpkeSealExport sealed to the X-Wing private key (its 32-byte seed). */
export async function hpkeOpenExport(privateKey: Uint8Array, info: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Promise<{ plaintext: Uint8Array; secret: Uint8Array }> {
  if (sealed.length < XWingEncLength) throw new Error("hpke: sealed data too short");
  const st = suite();
  const sk = await st.kem.deserializePrivateKey(copyBuffer(privateKey));
  const r = await st.createRecipientContext({ recipientKey: sk, enc: copyBuffer(sealed.subarray(0, XWingEncLength)), info: copyBuffer(info) });
  const pt = await r.open(copyBuffer(sealed.subarray(XWingEncLength)), copyBuffer(aad));
  const secret = await r.export(copyBuffer(utf8(ReplyExporter)), 32);
  return { plaintext: new Uint8Array(pt), secret: new Uint8Array(secret) };
}

// The HPKE library wants ArrayBuffers of exactly the bytes given.
function copyBuffer(b: Uint8Array): ArrayBuffer {
  return b.slice().buffer as ArrayBuffer;
}

// --- Replies ---

const zeroNonce = new Uint8Array(12);

/**
 * sealReply encrypts a command's reply under its reply secret with
 * ChaCha20-Poly1305 and the fixed zero nonce (Go's protocol.SealReply:
 * each secret seals one reply, which every member computes identically).
 */
export function sealReply(secret: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return chacha20poly1305(secret, zeroNonce, aad).encrypt(plaintext);
}

/** openReply decrypts a command's reply sealed by sealReply. */
export function openReply(secret: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
  return chacha20poly1305(secret, zeroNonce, aad).decrypt(sealed);
}

/** QueryReplySalt is the length of a query answer's salt. */
export const QueryReplySalt = 32;

function queryReplyKey(secret: Uint8Array, salt: Uint8Array, request: Uint8Array): Uint8Array {
  if (salt.length !== QueryReplySalt) throw new Error(`reply salt of ${salt.length} bytes, want ${QueryReplySalt}`);
  return hkdf(sha256, secret, salt, concat(utf8("phala/query-reply/v2/"), request), 32);
}

/** sealQueryReply seals one query answer under a key derived from the request's secret, a fresh salt and the request hash (Go's protocol.SealQueryReply). */
export function sealQueryReply(secret: Uint8Array, salt: Uint8Array, request: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return chacha20poly1305(queryReplyKey(secret, salt, request), zeroNonce, request).encrypt(plaintext);
}

/** openQueryReply decrypts an answer sealed by sealQueryReply. */
export function openQueryReply(secret: Uint8Array, salt: Uint8Array, request: Uint8Array, sealed: Uint8Array): Uint8Array {
  return chacha20poly1305(queryReplyKey(secret, salt, request), zeroNonce, request).decrypt(sealed);
}

// --- Derivations ---

/** clusterId names a cluster: SHA-256 of "phala/cluster/v1/" and its name. */
export function clusterId(name: string): Uint8Array {
  return sha256(utf8("phala/cluster/v1/" + name));
}

/** codeHash is the SHA-256 of a module's uncompressed bytes. */
export function codeHash(wasm: Uint8Array): Uint8Array {
  return sha256(wasm);
}

/** contractId names an instance: H(deployer, code hash, cluster, salt). */
export function contractId(deployer: Uint8Array, code: Uint8Array, cluster: Uint8Array, salt: Uint8Array): Uint8Array {
  return sha256(concat(utf8("phala/contract/v1"), lengthPrefixed([deployer, code, cluster, salt])));
}

/** queryInfo is the HPKE info of queries to a worker (v2). */
export function queryInfo(chainId: string, worker: Uint8Array): Uint8Array {
  return utf8(`phala/query/v2/${chainId}/${hex(worker)}`);
}

/** contractCommandInfo is the HPKE info of a command to a contract under its key of an epoch. */
export function contractCommandInfo(chainId: string, contract: Uint8Array, epoch: bigint): Uint8Array {
  return utf8(`phala/contract-command/v1/${chainId}/${hex(contract)}/${epoch}`);
}

/** contractInitInfo is the HPKE info of a contract's init arguments, sealed to its cluster's key. */
export function contractInitInfo(chainId: string, contract: Uint8Array, cluster: Uint8Array, epoch: bigint): Uint8Array {
  return utf8(`phala/contract-init/v1/${chainId}/${hex(contract)}/${hex(cluster)}/${epoch}`);
}

/** replyAAD binds a result's reply to its contract, kind and index. */
export function replyAAD(contract: Uint8Array, kind: string, index: bigint): Uint8Array {
  return utf8(`phala/contract-reply/v1/${hex(contract)}/${kind}/${index}`);
}

/** contractCommandTopic is the topic of a contract's commands. */
export function contractCommandTopic(contract: Uint8Array): string {
  return `phala/contracts/${hex(contract)}/command`;
}

/** keyHash names an encryption key in a key announcement. */
export function keyHash(key: Uint8Array): Uint8Array {
  return sha256(key);
}

/** reportData is what an attestation binds (Go's protocol.ReportData). */
export function reportData(chainId: string, genesisHash: Uint8Array, workerPub: Uint8Array, encPub: Uint8Array, runtimeVersion: number, height: number, blockHash: Uint8Array): Uint8Array {
  return sha512(concat(utf8("phala/attest/v1"), lengthPrefixed([utf8(chainId), genesisHash, workerPub, encPub, u32be(runtimeVersion), u64be(BigInt(height)), blockHash])));
}

/** simMeasurement identifies a sim pRuntime build by name. */
export function simMeasurement(build: string): Uint8Array {
  return sha256(utf8("phala/measurement/sim/v1" + build));
}

/** simRTMR3 is the modelled RTMR3 of a sim build: its runtime digest extended into a zero register. */
export function simRTMR3(build: string): Uint8Array {
  return sha384(concat(new Uint8Array(48), sha384(utf8("phala/sim/runtime/v1" + build))));
}

/** simDevPublicKey is the public half of the sim TEE's fixed, public development key. */
export function simDevPublicKey(): Uint8Array {
  return publicKeyOf(sha256(utf8("phala sim attestation key: INSECURE, for development only")));
}
