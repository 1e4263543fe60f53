// The chain half of confidential contracts (Go's sdk/contracts.go): records
// read with proofs; upload, instantiate and encrypted commands; waiting for
// results and opening their replies. Everything sealed here is sealed to a
// key read with a proof (the epoch record for cluster keys, the contract
// record for contract keys), so a node cannot substitute a key of its own.

import { bytesEqual, hex } from "./bytes.js";
import { type Client, decodeAnswer, newCall, type TxResult } from "./client.js";
import { encode } from "./cbor.js";
import { contractCommandInfo, contractCommandTopic, contractId, contractInitInfo, codeHash, hpkeSealExport, openReply, replyAAD, sign, SigContext } from "./crypto.js";
import {
  ErrContractNotActive, ErrEpochLost, ErrNoContractKey, ErrNoEpoch, ErrUnknownContract, ProtocolError,
} from "./errors.js";
import type { Key } from "./keys.js";
import {
  type CodeInfo, CodeInfoSchema, type CommandArgs, CommandArgsSchema, type CommandStatus, CommandStatusSchema,
  type ContractCommand, ContractCommandSchema, type ContractInfo, ContractInfoSchema, type ContractResult, ContractStatus,
  type EpochRecord, EpochRecordSchema, type InstantiateArgs, InstantiateArgsSchema, QueryPaths as P, ResultKind,
  SignedTxSchema, TxSchema, UploadCodeArgsSchema,
} from "./types.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** epochRecord reads the chain's key epochs with a proof (current epoch, cluster keys, rotation under way). */
export async function epochRecord(c: Client): Promise<EpochRecord> {
  const rec = await c.proven<EpochRecord>(P.contractEpoch, EpochRecordSchema);
  return rec ?? { current: 0n, activatedAt: 0, clusters: [], lost: false, pending: null };
}

/** code reads the record of uploaded code by its hash, with its proof. */
export function code(c: Client, hash: Uint8Array): Promise<CodeInfo | null> {
  return c.proven<CodeInfo>(P.code + hex(hash), CodeInfoSchema);
}

/** contract reads a contract's record (status, init result, published keys, command count), with its proof. */
export function contract(c: Client, id: Uint8Array): Promise<ContractInfo | null> {
  return c.proven<ContractInfo>(P.contract + hex(id), ContractInfoSchema);
}

/** commandStatus reads a command's status (and its result, once landed), with its proof. */
export function commandStatus(c: Client, id: Uint8Array, index: bigint): Promise<CommandStatus | null> {
  return c.proven<CommandStatus>(`${P.command}${hex(id)}/${index}`, CommandStatusSchema);
}

function usableEpoch(rec: EpochRecord): void {
  if (rec.current === 0n) throw new ProtocolError(ErrNoEpoch, "no key epoch has been activated");
  if (rec.lost) throw new ProtocolError(ErrEpochLost, `epoch ${rec.current}; wait for the emergency rotation`);
}

function clusterKey(rec: EpochRecord, cluster: Uint8Array): Uint8Array | undefined {
  return rec.clusters.find((k) => bytesEqual(k.cluster, cluster))?.pubkey;
}

function keyFor(info: ContractInfo, epoch: bigint): Uint8Array | undefined {
  return info.keys.find((k) => k.epoch === epoch)?.pubkey;
}

/**
 * sealInitArgs prepares an instantiation by deployer of code in cluster:
 * the contract's id, and initArgs sealed to the cluster's key of the
 * record's current epoch (deployer's address as aad). It returns the
 * arguments, the id and the reply secret of the init result.
 */
export async function sealInitArgs(chainId: string, rec: EpochRecord, deployer: Uint8Array, code: Uint8Array, cluster: Uint8Array, salt: Uint8Array, initArgs: Uint8Array, gasLimit: bigint): Promise<{ args: InstantiateArgs; id: Uint8Array; secret: Uint8Array }> {
  usableEpoch(rec);
  const pub = clusterKey(rec, cluster);
  if (!pub) throw new ProtocolError(ErrNoContractKey, `cluster ${hex(cluster)} has no key yet in epoch ${rec.current}`);
  const id = contractId(deployer, code, cluster, salt);
  const { sealed, secret } = await hpkeSealExport(pub, contractInitInfo(chainId, id, cluster, rec.current), deployer, initArgs);
  return { args: { codeHash: code, cluster, salt, epoch: rec.current, gasLimit, initArgs: sealed }, id, secret };
}

/**
 * sealContractCommand seals plaintext from sender to the contract's key of
 * the record's current epoch (sender's address as aad). It returns the
 * command's arguments and the reply secret that opens its result.
 */
export async function sealContractCommand(chainId: string, rec: EpochRecord, info: ContractInfo, sender: Uint8Array, plaintext: Uint8Array, gasLimit: bigint): Promise<{ args: CommandArgs; secret: Uint8Array }> {
  usableEpoch(rec);
  if (info.status !== ContractStatus.active) throw new ProtocolError(ErrContractNotActive, `contract ${hex(info.id)} is ${info.status}`);
  const pub = keyFor(info, rec.current);
  if (!pub) throw new ProtocolError(ErrNoContractKey, `contract ${hex(info.id)} has no key published for epoch ${rec.current} yet`);
  const { sealed, secret } = await hpkeSealExport(pub, contractCommandInfo(chainId, info.id, rec.current), sender, plaintext);
  return { args: { contract: info.id, epoch: rec.current, gasLimit, ciphertext: sealed }, secret };
}

/** signContractCommand seals a command (sealContractCommand) and signs its transaction with nonce and fee, for callers that keep several in flight. */
export async function signContractCommand(chainId: string, rec: EpochRecord, info: ContractInfo, key: Key, nonce: bigint, fee: bigint, plaintext: Uint8Array, gasLimit: bigint): Promise<{ raw: Uint8Array; secret: Uint8Array }> {
  const { args, secret } = await sealContractCommand(chainId, rec, info, key.address, plaintext, gasLimit);
  const body = encode(TxSchema, { chainId, signer: key.publicKey, nonce, fee, call: newCall("contracts", "command", encode(CommandArgsSchema, args)) });
  return { raw: encode(SignedTxSchema, { body, sig: sign(key.seed, SigContext.tx, body) }), secret };
}

/** sendChecked sends a call and turns a failed inclusion into an error. */
async function sendChecked(c: Client, key: Key, module: string, method: string, args: Uint8Array, signal?: AbortSignal): Promise<TxResult> {
  const res = await c.send(key, newCall(module, method, args), signal);
  if (res.err) throw new Error(`sdk: ${module}.${method} in block ${res.height}: ${res.err.message}`, { cause: res.err });
  return res;
}

/** gzip compresses with the platform's CompressionStream (Node ≥ 18, browsers). */
async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data.slice()]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * uploadCode gzip-compresses a WebAssembly module, uploads it from key's
 * account and returns its code hash. Code the chain already has is
 * refused with ErrCodeExists (in the error's cause chain).
 */
export async function uploadCode(c: Client, key: Key, wasm: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
  const args = encode(UploadCodeArgsSchema, { code: await gzip(wasm), compression: "gzip" });
  await sendChecked(c, key, "contracts", "upload_code", args, signal);
  return codeHash(wasm);
}

/**
 * instantiate creates an instance of code in cluster from key's account,
 * initArgs sealed to the cluster's proven key. It returns the contract id
 * and the reply secret of its init result (see waitInit).
 */
export async function instantiate(c: Client, key: Key, code: Uint8Array, cluster: Uint8Array, salt: Uint8Array, initArgs: Uint8Array, gasLimit: bigint, signal?: AbortSignal): Promise<{ id: Uint8Array; secret: Uint8Array }> {
  const rec = await epochRecord(c);
  const { args, id, secret } = await sealInitArgs(c.chainId, rec, key.address, code, cluster, salt, initArgs, gasLimit);
  await sendChecked(c, key, "contracts", "instantiate", encode(InstantiateArgsSchema, args), signal);
  return { id, secret };
}

/**
 * sendContractCommand seals plaintext to the contract's proven key of the
 * current epoch and sends it from key's account. It returns the command's
 * index (read from the block's verified message list), the transaction's
 * result and the reply secret of its result (see waitResult).
 */
export async function sendContractCommand(c: Client, key: Key, id: Uint8Array, plaintext: Uint8Array, gasLimit: bigint, signal?: AbortSignal): Promise<{ index: bigint; tx: TxResult; secret: Uint8Array }> {
  const rec = await epochRecord(c);
  const info = await contract(c, id);
  if (!info) throw new ProtocolError(ErrUnknownContract, `contract ${hex(id)}`);
  const { args, secret } = await sealContractCommand(c.chainId, rec, info, key.address, plaintext, gasLimit);
  const tx = await sendChecked(c, key, "contracts", "command", encode(CommandArgsSchema, args), signal);
  return { index: await commandIndex(c, tx, args), tx, secret };
}

async function commandIndex(c: Client, tx: TxResult, args: CommandArgs): Promise<bigint> {
  const topic = contractCommandTopic(args.contract);
  const { messages } = await c.blockMessages(tx.height);
  for (const em of tx.messages) {
    if (em.topic !== topic) continue;
    for (const m of messages) {
      if (m.topic !== topic || m.seq !== em.seq || m.origin.kind !== 6 || !bytesEqual(m.origin.id, new TextEncoder().encode("contracts"))) continue;
      const cmd = decodeAnswer<ContractCommand>(ContractCommandSchema, m.payload, `command message in block ${tx.height}`);
      if (bytesEqual(cmd.ciphertext, args.ciphertext)) return cmd.index;
    }
  }
  throw new Error(`sdk: block ${tx.height} has no command message of transaction ${hex(tx.hash)}`);
}

/**
 * waitContractKey waits until a command can be sealed to the contract: the
 * epoch is usable and the contract's key for it is published. A contract
 * that does not exist, or whose init failed, never gets one: an error.
 */
export async function waitContractKey(c: Client, id: Uint8Array, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const rec = await epochRecord(c);
    const info = await contract(c, id);
    if (!info) throw new ProtocolError(ErrUnknownContract, `contract ${hex(id)}`);
    if (info.status === ContractStatus.failed) throw new ProtocolError(ErrContractNotActive, `contract ${hex(id)} is failed: its init failed, it will have no key`);
    if (info.status === "frozen") throw new ProtocolError(ErrContractNotActive, `contract ${hex(id)} is frozen until governance resolves its members' divergence`);
    if (info.status === ContractStatus.active && rec.current !== 0n && !rec.lost && keyFor(info, rec.current)) return;
    if (signal?.aborted || c.signal?.aborted) throw new Error(`sdk: waiting for contract ${hex(id)}'s key: aborted`);
    await sleep(c.pollMs);
  }
}

/** A result with its reply opened (null when it carries none). */
export interface OpenedResult {
  result: ContractResult;
  reply: Uint8Array | null;
}

/**
 * waitResult waits until the result of a contract's command lands (its
 * proven status has a result) and opens its reply with secret. A status
 * that carries a `pending` field (results awaiting their quorum) is waited
 * on like a missing result.
 */
export async function waitResult(c: Client, id: Uint8Array, index: bigint, secret: Uint8Array, signal?: AbortSignal): Promise<OpenedResult> {
  return waitFor(c, secret, replyAAD(id, ResultKind.command, index), signal, async () => {
    const st = await commandStatus(c, id, index);
    if (!st) throw new Error(`sdk: contract ${hex(id)} has no command ${index}`);
    return st.result;
  });
}

/** waitInit waits until a contract's init result lands and opens its reply with the secret instantiate returned. */
export async function waitInit(c: Client, id: Uint8Array, secret: Uint8Array, signal?: AbortSignal): Promise<OpenedResult> {
  return waitFor(c, secret, replyAAD(id, ResultKind.init, 0n), signal, async () => {
    const info = await contract(c, id);
    if (!info) throw new ProtocolError(ErrUnknownContract, `contract ${hex(id)}`);
    return info.init;
  });
}

async function waitFor(c: Client, secret: Uint8Array, aad: Uint8Array, signal: AbortSignal | undefined, read: () => Promise<ContractResult | null>): Promise<OpenedResult> {
  for (;;) {
    const r = await read();
    if (r) {
      if (r.reply.length === 0) return { result: r, reply: null };
      try {
        return { result: r, reply: openReply(secret, aad, r.reply) };
      } catch (e) {
        throw new Error(`sdk: reply does not open: ${(e as Error).message}`, { cause: e });
      }
    }
    if (signal?.aborted || c.signal?.aborted) throw new Error("sdk: waiting for a contract result: aborted");
    await sleep(c.pollMs);
  }
}
