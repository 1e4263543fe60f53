// CometBFT's canonical encodings and commit verification, as
// github.com/cometbft/cometbft v1.0 computes them: the header hash, the
// validator set hash, vote sign bytes (CanonicalVote, length-delimited
// protobuf), the transactions and results hashes, and
// VerifyCommitLight / VerifyCommitLightTrusting. The protobuf encodings
// are written here field by field (they are small and fixed); the
// cross-language vectors hold them to CometBFT's own.

import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesEqual, concat, hex, utf8 } from "./bytes.js";

/** Time is a protobuf Timestamp: exact to the nanosecond. */
export interface Time {
  seconds: bigint;
  nanos: number;
}

export interface BlockID {
  hash: Uint8Array;
  parts: { total: number; hash: Uint8Array };
}

/** Header is a CometBFT block header. */
export interface Header {
  version: { block: bigint; app: bigint };
  chainId: string;
  height: number;
  time: Time;
  lastBlockId: BlockID;
  lastCommitHash: Uint8Array;
  dataHash: Uint8Array;
  validatorsHash: Uint8Array;
  nextValidatorsHash: Uint8Array;
  consensusHash: Uint8Array;
  appHash: Uint8Array;
  lastResultsHash: Uint8Array;
  evidenceHash: Uint8Array;
  proposerAddress: Uint8Array;
}

/** BlockIDFlag of a commit signature. */
export const BlockIDFlag = { absent: 1, commit: 2, nil: 3 } as const;

export interface CommitSig {
  flag: number;
  address: Uint8Array;
  time: Time;
  signature: Uint8Array;
}

export interface Commit {
  height: number;
  round: number;
  blockId: BlockID;
  signatures: CommitSig[];
}

export interface SignedHeader {
  header: Header;
  commit: Commit;
}

/** Validator is an ed25519 validator and its voting power. */
export interface Validator {
  address: Uint8Array;
  pubkey: Uint8Array;
  power: bigint;
}

// --- protobuf ---

function varint(n: bigint): Uint8Array {
  let v = BigInt.asUintN(64, n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function key(field: number, wire: number): Uint8Array {
  return varint(BigInt((field << 3) | wire));
}

function fVarint(field: number, n: bigint): Uint8Array {
  return n === 0n ? new Uint8Array(0) : concat(key(field, 0), varint(n));
}

function fBytes(field: number, b: Uint8Array, always = false): Uint8Array {
  return b.length === 0 && !always ? new Uint8Array(0) : concat(key(field, 2), varint(BigInt(b.length)), b);
}

function fSfixed64(field: number, n: bigint): Uint8Array {
  if (n === 0n) return new Uint8Array(0);
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, n, true);
  return concat(key(field, 1), b);
}

function timestamp(t: Time): Uint8Array {
  return concat(fVarint(1, t.seconds), fVarint(2, BigInt(t.nanos)));
}

function partSetHeader(p: BlockID["parts"]): Uint8Array {
  return concat(fVarint(1, BigInt(p.total)), fBytes(2, p.hash));
}

function blockID(b: BlockID): Uint8Array {
  return concat(fBytes(1, b.hash), fBytes(2, partSetHeader(b.parts), true));
}

// --- Merkle (crypto/merkle) ---

const emptyHash = sha256(new Uint8Array(0));

/** merkleRoot is CometBFT's merkle.HashFromByteSlices. */
export function merkleRoot(items: Uint8Array[]): Uint8Array {
  switch (items.length) {
    case 0:
      return emptyHash;
    case 1:
      return sha256(concat(Uint8Array.of(0), items[0]));
  }
  let k = 1;
  while (k * 2 < items.length) k *= 2;
  return sha256(concat(Uint8Array.of(1), merkleRoot(items.slice(0, k)), merkleRoot(items.slice(k))));
}

// --- hashes ---

/** headerHash is types.Header.Hash(). */
export function headerHash(h: Header): Uint8Array {
  const cdcBytes = (b: Uint8Array) => fBytes(1, b);
  return merkleRoot([
    concat(fVarint(1, h.version.block), fVarint(2, h.version.app)),
    fBytes(1, utf8(h.chainId)),
    fVarint(1, BigInt(h.height)),
    timestamp(h.time),
    blockID(h.lastBlockId),
    cdcBytes(h.lastCommitHash),
    cdcBytes(h.dataHash),
    cdcBytes(h.validatorsHash),
    cdcBytes(h.nextValidatorsHash),
    cdcBytes(h.consensusHash),
    cdcBytes(h.appHash),
    cdcBytes(h.lastResultsHash),
    cdcBytes(h.evidenceHash),
    cdcBytes(h.proposerAddress),
  ]);
}

/** validatorSetHash is types.ValidatorSet.Hash() of validators in the set's order. */
export function validatorSetHash(vals: Validator[]): Uint8Array {
  return merkleRoot(vals.map((v) => concat(fBytes(1, fBytes(1, v.pubkey)), fVarint(2, v.power))));
}

/** sortValidators orders validators as CometBFT's ValidatorSet does: by power, descending, then by address. */
export function sortValidators(vals: Validator[]): Validator[] {
  return [...vals].sort((a, b) => (a.power !== b.power ? (a.power > b.power ? -1 : 1) : compareBytes(a.address, b.address)));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** validatorAddress is an ed25519 validator's address: the first 20 bytes of SHA-256 of its key. */
export function validatorAddress(pub: Uint8Array): Uint8Array {
  return sha256(pub).slice(0, 20);
}

/** voteSignBytes is types.VoteSignBytes of a precommit for a block. */
export function voteSignBytes(chainId: string, height: number, round: number, block: BlockID, time: Time): Uint8Array {
  const canonicalBlockID = concat(fBytes(1, block.hash), fBytes(2, partSetHeader(block.parts), true));
  const body = concat(
    fVarint(1, 2n), // SIGNED_MSG_TYPE_PRECOMMIT
    fSfixed64(2, BigInt(height)),
    fSfixed64(3, BigInt(round)),
    fBytes(4, canonicalBlockID, true),
    fBytes(5, timestamp(time), true),
    fBytes(6, utf8(chainId)),
  );
  return concat(varint(BigInt(body.length)), body);
}

/** txsHash is types.Txs.Hash(): the Merkle root of the transactions' SHA-256 hashes. */
export function txsHash(txs: readonly Uint8Array[]): Uint8Array {
  return merkleRoot(txs.map((t) => sha256(t)));
}

/** ExecResult is the deterministic part of a transaction's result. */
export interface ExecResult {
  code: number;
  data: Uint8Array;
  gasWanted: bigint;
  gasUsed: bigint;
}

/** resultsHash is types.NewResults(results).Hash(), which header H+1 names as LastResultsHash. */
export function resultsHash(results: readonly ExecResult[]): Uint8Array {
  return merkleRoot(results.map((r) => concat(fVarint(1, BigInt(r.code)), fBytes(2, r.data), fVarint(5, r.gasWanted), fVarint(6, r.gasUsed))));
}

// --- commit verification ---

/** CommitError says which check of a commit failed. */
export class CommitError extends Error {
  override name = "CommitError";
}

function totalPower(vals: Validator[]): bigint {
  return vals.reduce((n, v) => n + v.power, 0n);
}

function blockIDEqual(a: BlockID, b: BlockID): boolean {
  return bytesEqual(a.hash, b.hash) && a.parts.total === b.parts.total && bytesEqual(a.parts.hash, b.parts.hash);
}

function verifySig(chainId: string, c: Commit, s: CommitSig, v: Validator): boolean {
  try {
    // CometBFT verifies validator signatures with ZIP-215's rules.
    return ed25519.verify(s.signature, voteSignBytes(chainId, c.height, c.round, c.blockId, s.time), v.pubkey, { zip215: true });
  } catch {
    return false;
  }
}

/**
 * verifyCommitLight is ValidatorSet.VerifyCommitLight: more than 2/3 of
 * vals' power signed commit for block at height (signatures by index).
 */
export function verifyCommitLight(chainId: string, vals: Validator[], block: BlockID, height: number, c: Commit): void {
  if (c.height !== height) throw new CommitError(`commit for height ${c.height}, want ${height}`);
  if (!blockIDEqual(c.blockId, block)) throw new CommitError(`commit for block ${hex(c.blockId.hash)}, want ${hex(block.hash)}`);
  if (c.signatures.length !== vals.length) throw new CommitError(`commit has ${c.signatures.length} signatures for ${vals.length} validators`);
  const needed = (totalPower(vals) * 2n) / 3n;
  let tally = 0n;
  for (let i = 0; i < vals.length; i++) {
    const s = c.signatures[i];
    if (s.flag !== BlockIDFlag.commit) continue;
    const v = vals[i];
    if (!bytesEqual(s.address, v.address)) throw new CommitError(`signature ${i} is by ${hex(s.address)}, the validator at ${i} is ${hex(v.address)}`);
    if (!verifySig(chainId, c, s, v)) throw new CommitError(`wrong signature by validator ${hex(v.address)}`);
    tally += v.power;
    if (tally > needed) return;
  }
  throw new CommitError(`signatures carry ${tally} of ${totalPower(vals)} voting power; more than 2/3 needed`);
}

/**
 * verifyCommitLightTrusting is ValidatorSet.VerifyCommitLightTrusting at
 * trust level 1/3: validators of the trusted set holding more than a third
 * of its power signed c (looked up by address, each counted once).
 */
export function verifyCommitLightTrusting(chainId: string, trusted: Validator[], c: Commit): void {
  const needed = totalPower(trusted) / 3n;
  const byAddress = new Map(trusted.map((v) => [hex(v.address), v]));
  const seen = new Set<string>();
  let tally = 0n;
  for (const s of c.signatures) {
    if (s.flag !== BlockIDFlag.commit) continue;
    const a = hex(s.address);
    const v = byAddress.get(a);
    if (!v) continue;
    if (seen.has(a)) throw new CommitError(`validator ${a} signed twice`);
    seen.add(a);
    if (!verifySig(chainId, c, s, v)) throw new CommitError(`wrong signature by validator ${a}`);
    tally += v.power;
    if (tally > needed) return;
  }
  throw new CommitError(`trusted validators carry ${tally} of ${totalPower(trusted)} voting power; more than 1/3 needed`);
}

/**
 * validateSignedHeader is SignedHeader.ValidateBasic's checks that matter
 * to a light client: the chain, the block protocol, heights, hash sizes,
 * and that the commit is for this very header.
 */
export function validateSignedHeader(sh: SignedHeader, chainId: string): void {
  const h = sh.header;
  if (h.chainId !== chainId) throw new CommitError(`header of chain ${JSON.stringify(h.chainId)}, want ${JSON.stringify(chainId)}`);
  if (h.version.block !== 11n) throw new CommitError(`block protocol ${h.version.block}, want 11`);
  if (!Number.isSafeInteger(h.height) || h.height < 1) throw new CommitError(`height ${h.height}`);
  for (const [name, b] of [["validators", h.validatorsHash], ["next validators", h.nextValidatorsHash], ["consensus", h.consensusHash]] as const) {
    if (b.length !== 32) throw new CommitError(`${name} hash of ${b.length} bytes`);
  }
  if (sh.commit.height !== h.height) throw new CommitError(`commit for height ${sh.commit.height}, header ${h.height}`);
  if (!bytesEqual(sh.commit.blockId.hash, headerHash(h))) throw new CommitError(`commit signs block ${hex(sh.commit.blockId.hash)}, the header hashes to ${hex(headerHash(h))}`);
}

/** timeBefore reports whether a is strictly before b. */
export function timeBefore(a: Time, b: Time): boolean {
  return a.seconds < b.seconds || (a.seconds === b.seconds && a.nanos < b.nanos);
}

/** timeMillis converts a Time to milliseconds since the epoch. */
export function timeMillis(t: Time): number {
  return Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);
}
