// The trust root: what a Client believes without proof (the chain id, the
// genesis hash and time, the genesis validator set), with the newest
// header it verified from there and the validators that signed it. Go's
// sdk.TrustRoot; docs/sdk-ts.md says where it comes from.

import { fromHex, hex } from "./bytes.js";
import {
  type BlockID, type Commit, type Header, type SignedHeader, type Time, type Validator,
  validateSignedHeader, validatorSetHash, verifyCommitLight,
} from "./comet.js";
import { ErrBadTrustRoot, ProtocolError } from "./errors.js";
import { checkSet, validator } from "./rpc.js";
import { bytesEqual } from "./bytes.js";

export interface TrustRoot {
  chainId: string;
  /** protocol.GenesisHash of the chain's genesis, proven by the genesis validators at first use. */
  genesisHash: Uint8Array;
  genesisTime: Time;
  /** The newest verified header with its commit; null before the first. */
  header: SignedHeader | null;
  /** The set that signed header; before the first header, the genesis validators. */
  validators: Validator[];
}

/** trustHeight is the height of the newest verified header (0: none yet). */
export function trustHeight(t: TrustRoot): number {
  return t.header?.header.height ?? 0;
}

// --- JSON ---

const timeJSON = (t: Time) => ({ seconds: t.seconds.toString(), nanos: t.nanos });
const blockIdJSON = (b: BlockID) => ({ hash: hex(b.hash), parts: { total: b.parts.total, hash: hex(b.parts.hash) } });

function headerJSON(h: Header) {
  return {
    version: { block: h.version.block.toString(), app: h.version.app.toString() },
    chain_id: h.chainId, height: h.height, time: timeJSON(h.time), last_block_id: blockIdJSON(h.lastBlockId),
    last_commit_hash: hex(h.lastCommitHash), data_hash: hex(h.dataHash), validators_hash: hex(h.validatorsHash),
    next_validators_hash: hex(h.nextValidatorsHash), consensus_hash: hex(h.consensusHash), app_hash: hex(h.appHash),
    last_results_hash: hex(h.lastResultsHash), evidence_hash: hex(h.evidenceHash), proposer_address: hex(h.proposerAddress),
  };
}

function commitJSON(c: Commit) {
  return {
    height: c.height, round: c.round, block_id: blockIdJSON(c.blockId),
    signatures: c.signatures.map((s) => ({ flag: s.flag, address: hex(s.address), time: timeJSON(s.time), signature: hex(s.signature) })),
  };
}

/**
 * trustToJSON writes a root in the form trustFromJSON reads (save it, in
 * a file or in a browser's storage, and pass it back as
 * ClientOptions.trust to resume from its header).
 */
export function trustToJSON(t: TrustRoot): string {
  return JSON.stringify({
    chain_id: t.chainId, genesis_hash: hex(t.genesisHash), genesis_time: timeJSON(t.genesisTime), height: trustHeight(t),
    signed_header: t.header ? { header: headerJSON(t.header.header), commit: commitJSON(t.header.commit) } : null,
    validators: t.validators.map((v) => ({ pub_key: hex(v.pubkey), power: v.power.toString() })),
  }, null, 2);
}

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const readTime = (j: J): Time => {
  if (typeof j?.nanos !== "number" || !Number.isInteger(j.nanos) || j.nanos < 0 || j.nanos > 999_999_999) throw new TypeError("time");
  return { seconds: BigInt(j.seconds), nanos: j.nanos };
};
const readBlockId = (j: J): BlockID => ({ hash: fromHex(j.hash), parts: { total: int(j.parts.total), hash: fromHex(j.parts.hash) } });
const int = (x: unknown): number => {
  if (typeof x !== "number" || !Number.isSafeInteger(x)) throw new TypeError(`${String(x)} is not an integer`);
  return x;
};

function readHeader(j: J): Header {
  return {
    version: { block: BigInt(j.version.block), app: BigInt(j.version.app) }, chainId: String(j.chain_id), height: int(j.height),
    time: readTime(j.time), lastBlockId: readBlockId(j.last_block_id), lastCommitHash: fromHex(j.last_commit_hash),
    dataHash: fromHex(j.data_hash), validatorsHash: fromHex(j.validators_hash), nextValidatorsHash: fromHex(j.next_validators_hash),
    consensusHash: fromHex(j.consensus_hash), appHash: fromHex(j.app_hash), lastResultsHash: fromHex(j.last_results_hash),
    evidenceHash: fromHex(j.evidence_hash), proposerAddress: fromHex(j.proposer_address),
  };
}

function readCommit(j: J): Commit {
  return {
    height: int(j.height), round: int(j.round), blockId: readBlockId(j.block_id),
    signatures: (j.signatures as J[]).map((s) => ({ flag: int(s.flag), address: fromHex(s.address), time: readTime(s.time), signature: fromHex(s.signature) })),
  };
}

/**
 * trustFromJSON reads a saved root and checks that it is whole: the
 * validators form a valid set, and a header is well formed, of the root's
 * chain, and signed by them.
 */
export function trustFromJSON(text: string): TrustRoot {
  let t: TrustRoot;
  let height: number;
  try {
    const j = JSON.parse(text) as J;
    t = {
      chainId: String(j.chain_id), genesisHash: fromHex(j.genesis_hash), genesisTime: readTime(j.genesis_time),
      header: j.signed_header ? { header: readHeader(j.signed_header.header), commit: readCommit(j.signed_header.commit) } : null,
      validators: checkSet((j.validators as J[]).map((v) => validator({ algorithm: "ed25519", data: fromHex(v.pub_key) }, BigInt(v.power)))),
    };
    height = int(j.height);
  } catch (e) {
    throw new ProtocolError(ErrBadTrustRoot, (e as Error).message, { cause: e });
  }
  checkTrust(t);
  if (trustHeight(t) !== height) throw new ProtocolError(ErrBadTrustRoot, `height ${height}, its header is at ${trustHeight(t)}`);
  return t;
}

/** checkTrust verifies that a root is whole (see trustFromJSON). */
export function checkTrust(t: TrustRoot): void {
  if (!t.chainId) throw new ProtocolError(ErrBadTrustRoot, "no chain id");
  if (t.genesisHash.length !== 32) throw new ProtocolError(ErrBadTrustRoot, `genesis hash of ${t.genesisHash.length} bytes`);
  if (t.validators.length === 0) throw new ProtocolError(ErrBadTrustRoot, "no validators");
  if (!t.header) return;
  const { header: h, commit } = t.header;
  try {
    validateSignedHeader(t.header, t.chainId);
    if (!bytesEqual(validatorSetHash(t.validators), h.validatorsHash)) throw new Error("not signed by the saved validators");
    verifyCommitLight(t.chainId, t.validators, commit.blockId, h.height, commit);
  } catch (e) {
    throw new ProtocolError(ErrBadTrustRoot, `header ${h.height}: ${(e as Error).message}`, { cause: e });
  }
}
