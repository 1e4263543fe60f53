// The client (Go's sdk.Client): talks to one node over CometBFT RPC and
// believes nothing that node says that it cannot check. Everything read
// with a proof is checked against the app hash of a header verified from
// the trust root, at the newest height verified; what it signs uses only
// verified values (the trust root's chain id, the proven nonce, the proven
// minimum fee, refused above maxFee). docs/sdk-ts.md.

import { sha256 } from "@noble/hashes/sha2.js";
import { bytesEqual, hex } from "./bytes.js";
import { type Header, type Time, merkleRoot, resultsHash, txsHash } from "./comet.js";
import { decode, encode } from "./cbor.js";
import { sign, SigContext } from "./crypto.js";
import {
  ErrBelowMinHeight, ErrFeeAboveMax, ErrMalformedAnswer, ErrProof, ErrStaleAnswer, ErrStaleHeader, ErrTrustMismatch,
  ErrUnprovenTx, ProtocolError, fromWire, type ErrorCode,
} from "./errors.js";
import type { Key } from "./keys.js";
import { Light } from "./light.js";
import { RPC } from "./rpc.js";
import { appHash, stateKey, verifyState } from "./state.js";
import { type TrustRoot, checkTrust, trustHeight } from "./trust.js";
import {
  type Account, AccountSchema, type BlockMessages, BlockMessagesSchema, type Call, CallSchema, type Message, MessageSchema,
  type Params, ParamsSchema, QueryPaths as P, SignedTxSchema, TransferArgsSchema, TxSchema,
} from "./types.js";

/** Defaults of ClientOptions, as the Go SDK's. */
export const DefaultTrustingPeriodMs = 7 * 24 * 3600 * 1000;
export const DefaultMaxClockDriftMs = 10_000;
export const DefaultMaxHeaderAgeMs = 10 * 60 * 1000;
export const DefaultMaxFee = 100_000n;

export interface ClientOptions {
  /** The root to verify from, typically saved from an earlier client.trust(). Absent: the node's genesis, pinned at first use. */
  trust?: TrustRoot;
  /** The chain the node must serve. */
  chainId?: string;
  /** The genesis hash the chain must have (as `phala trust show` prints it). */
  genesisHash?: Uint8Array;
  trustingPeriodMs?: number;
  maxClockDriftMs?: number;
  /** Refuse a node whose newest header is older (negative: no bound). */
  maxHeaderAgeMs?: number;
  /** No proven read answers from the state before this block. */
  minHeight?: number;
  /** The most a transaction's fee may be; a higher proven minimum fee is ErrFeeAboveMax. */
  maxFee?: bigint;
  now?: () => Date;
  /** How often waits re-check the chain (default 100 ms). */
  pollMs?: number;
  /** Ends every wait of the client (for the minimum height, a header, a transaction, a result) when aborted. */
  signal?: AbortSignal;
}

/** TxResult is the proven outcome of an included transaction. */
export interface TxResult {
  hash: Uint8Array;
  height: number;
  /** The transaction's protocol error, null on success (a failed transaction still paid its fee). */
  err: ProtocolError | null;
  /** The (origin, topic, seq) of each message it emitted, from the node's events (verify with blockMessages). */
  messages: { origin: string; topic: string; seq: bigint }[];
}

interface Answer {
  value: Uint8Array | null;
  height: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** maxAhead is how far beyond the tip it showed a node may answer from. */
const maxAhead = 2;

export class Client {
  readonly rpc: RPC;
  readonly chainId: string;
  readonly maxFee: bigint;
  readonly pollMs: number;
  private light: Light;
  private readonly o: Required<Omit<ClientOptions, "trust" | "chainId" | "genesisHash" | "signal">>;
  /** signal ends every wait of the client (ClientOptions.signal). */
  readonly signal: AbortSignal | undefined;
  private lock: Promise<unknown> = Promise.resolve();

  private constructor(rpc: RPC, root: TrustRoot, o: ClientOptions) {
    this.rpc = rpc;
    this.chainId = root.chainId;
    this.o = {
      trustingPeriodMs: o.trustingPeriodMs ?? DefaultTrustingPeriodMs,
      maxClockDriftMs: o.maxClockDriftMs ?? DefaultMaxClockDriftMs,
      maxHeaderAgeMs: o.maxHeaderAgeMs ?? DefaultMaxHeaderAgeMs,
      minHeight: o.minHeight ?? 0,
      maxFee: o.maxFee ?? DefaultMaxFee,
      now: o.now ?? (() => new Date()),
      pollMs: o.pollMs ?? 100,
    };
    this.maxFee = this.o.maxFee;
    this.signal = o.signal;
    this.pollMs = this.o.pollMs;
    this.light = new Light(rpc, root, this.o);
  }

  /**
   * dial connects to a node's RPC address. The node must serve the trust
   * root's chain; without a root, its genesis validators become the root
   * (trust at first use), and the chain's genesis hash is read with a
   * proof from them (checked against o.genesisHash when set).
   */
  static async dial(url: string, o: ClientOptions = {}): Promise<Client> {
    const rpc = await RPC.connect(url);
    const st = await rpc.status();
    let root: TrustRoot;
    if (o.trust) {
      checkTrust(o.trust);
      root = o.trust;
    } else {
      const g = await rpc.genesis();
      root = { chainId: g.chainId, genesisHash: new Uint8Array(32), genesisTime: g.time, header: null, validators: g.validators };
    }
    if (o.chainId && root.chainId !== o.chainId) throw new ProtocolError(ErrTrustMismatch, `trusted chain ${JSON.stringify(root.chainId)}, expected ${JSON.stringify(o.chainId)}`);
    if (st.chainId !== root.chainId) throw new ProtocolError(ErrTrustMismatch, `node ${url} serves chain ${JSON.stringify(st.chainId)}, trusted ${JSON.stringify(root.chainId)}`);
    const c = new Client(rpc, root, o);
    if (!o.trust) {
      const q = await c.verifiedQuery(P.genesisHash);
      if (!q.value || q.value.length !== 32) throw new ProtocolError(ErrMalformedAnswer, "the chain holds no genesis hash");
      c.light.trust = { ...c.light.trust, genesisHash: q.value };
    }
    const want = o.genesisHash;
    if (want && !bytesEqual(c.light.trust.genesisHash, want)) {
      throw new ProtocolError(ErrTrustMismatch, `node ${url} has genesis ${hex(c.light.trust.genesisHash)}, expected ${hex(want)}`);
    }
    return c;
  }

  /** trust returns the root with the newest verified header: save it (trustToJSON) and pass it back to resume. */
  trust(): TrustRoot {
    return this.light.trust;
  }

  /** genesisHash is the trusted chain's genesis hash. */
  get genesisHash(): Uint8Array {
    return this.light.trust.genesisHash;
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.lock.then(f, f);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** height is the latest height as the node claims it, unverified (verifiedTip verifies it). */
  async height(): Promise<number> {
    return (await this.rpc.status()).height;
  }

  /** verifiedTip verifies the node's newest header and returns its height, never below one verified before. */
  async verifiedTip(): Promise<number> {
    return (await this.tipHeader()).height;
  }

  private async tipHeader(): Promise<Header> {
    const st = await this.rpc.status();
    return this.serial(async () => {
      await this.light.advance(st.height);
      const sh = this.light.trust.header;
      if (!sh) throw new ProtocolError(ErrBelowMinHeight, "the node has no block yet");
      const age = this.o.now().getTime() - millis(sh.header.time);
      if (this.o.maxHeaderAgeMs > 0 && age > this.o.maxHeaderAgeMs) {
        throw new ProtocolError(ErrStaleHeader, `newest header ${sh.header.height} is ${Math.round(age / 1000)} s old (the most the client accepts is ${this.o.maxHeaderAgeMs / 1000} s): the node is behind, or the chain has stopped`);
      }
      return sh.header;
    });
  }

  /** stateHeader returns the newest verified header once it proves a state at least min (and minHeight), waiting for it. */
  private async stateHeader(min: number, signal?: AbortSignal): Promise<Header> {
    min = Math.max(min, this.o.minHeight, 1);
    for (;;) {
      const h = await this.tipHeader();
      if (h.height - 1 >= min) return h;
      if (signal?.aborted || this.signal?.aborted) throw new ProtocolError(ErrBelowMinHeight, `waiting for the state of block ${min}, the node is at ${h.height - 1}`);
      await sleep(this.pollMs);
    }
  }

  /** query runs an ABCI query without checking a proof, mapping an application error to its protocol error. */
  async query(path: string, height = 0): Promise<Answer & { ops: import("./state.js").ProofOp[] | null }> {
    const r = await this.rpc.abciQuery(path, height);
    if (r.code !== 0) throw fromWire(r.codespace, r.code, r.log);
    return { value: r.value, height: r.height, ops: r.ops };
  }

  /**
   * verifiedQuery answers a proven path from the node's latest state and
   * checks the proof against the key the protocol assigns the path and
   * the app hash of a verified header. The state must be at least the one
   * the newest verified header proves (ErrStaleAnswer otherwise).
   */
  async verifiedQuery(path: string, signal?: AbortSignal): Promise<Answer> {
    const key = stateKey(path);
    const sh = await this.stateHeader(1, signal);
    const q = await this.query(path);
    const floor = sh.height - 1;
    if (q.height < floor) throw new ProtocolError(ErrStaleAnswer, `${path}: the node answered from the state of block ${q.height}; the client has verified block ${floor}'s`);
    if (q.height > sh.height + maxAhead) {
      // The node may have committed several blocks while the client
      // verified its tip (slow on a loaded machine): measure its tip again,
      // after the answer. The bound only keeps a node from having the
      // client wait for headers it will never show; the answer is verified
      // against header q.height+1 in any case.
      const now = await this.rpc.status();
      if (q.height > now.height + maxAhead) throw new ProtocolError(ErrStaleAnswer, `${path}: the node answered from the state of block ${q.height}, ahead of its own tip ${now.height}`);
    }
    const want = await this.verifiedAppHash(q.height);
    try {
      verifyState(key, q.value, q.ops, want);
    } catch (e) {
      throw new ProtocolError(ErrProof, `${path} at ${q.height}: ${(e as ProtocolError).detail ?? (e as Error).message}`, { cause: e });
    }
    return q;
  }

  /** proven reads one record with its proof; null when the chain proves it absent. */
  async proven<T>(path: string, schema: import("./cbor.js").Schema): Promise<T | null> {
    const q = await this.verifiedQuery(path);
    return q.value === null ? null : decodeAnswer<T>(schema, q.value, path);
  }

  /** verifiedHeader returns header h verified from the trust root, waiting for block h. */
  async verifiedHeader(h: number): Promise<Header> {
    if (h < 1) throw new Error(`sdk: no header ${h}`);
    for (;;) {
      const tip = await this.tipHeader();
      if (tip.height >= h) break;
      if (this.signal?.aborted) throw new ProtocolError(ErrBelowMinHeight, `waiting for header ${h}, the node is at ${tip.height}`);
      await sleep(this.pollMs);
    }
    return this.serial(() => this.light.header(h));
  }

  /** verifiedAppHash is the app hash of block h, from verified header h+1. */
  async verifiedAppHash(h: number): Promise<Uint8Array> {
    return (await this.verifiedHeader(h + 1)).appHash;
  }

  /** account reads an account at the newest verified height, with its proof. */
  async account(address: Uint8Array): Promise<{ account: Account; height: number }> {
    const q = await this.verifiedQuery(P.account + hex(address));
    return { account: q.value ? decodeAnswer<Account>(AccountSchema, q.value, "account") : { balance: 0n, nonce: 0n }, height: q.height };
  }

  /** params reads the chain parameters with their proof. */
  async params(): Promise<Params> {
    const q = await this.verifiedQuery(P.params);
    if (!q.value) throw new ProtocolError(ErrMalformedAnswer, "the chain holds no parameters");
    return decodeAnswer<Params>(ParamsSchema, q.value, "params");
  }

  /** minFee is the chain's proven minimum fee, which the client pays; above maxFee it is ErrFeeAboveMax. */
  async minFee(): Promise<bigint> {
    const p = await this.params();
    if (p.minFee > this.maxFee) throw new ProtocolError(ErrFeeAboveMax, `the chain's minimum fee is ${p.minFee}, the most this client pays is ${this.maxFee}`);
    return p.minFee;
  }

  /** govNonce reads, with its proof, the nonce the next governance action must carry. */
  async govNonce(): Promise<bigint> {
    const q = await this.verifiedQuery(P.govNonce);
    return q.value ? decodeAnswer<bigint>("u64", q.value, "governance nonce") : 0n;
  }

  /** nextSeq reads, with its proof, the sequence an origin's next message must carry ("account:<hex>", "gatekeeper", ...). */
  async nextSeq(origin: string): Promise<bigint> {
    const q = await this.verifiedQuery(P.nextSeq + origin);
    return q.value ? decodeAnswer<bigint>("u64", q.value, "next seq") : 0n;
  }

  /** signTx signs call from key with a proven nonce and the proven minimum fee; it returns the raw transaction. */
  async signTx(key: Key, call: Call): Promise<Uint8Array> {
    const { account } = await this.account(key.address);
    const fee = await this.minFee();
    const body = encode(TxSchema, { chainId: this.chainId, signer: key.publicKey, nonce: account.nonce, fee, call });
    return encode(SignedTxSchema, { body, sig: sign(key.seed, SigContext.tx, body) });
  }

  /** send signs call with key (signTx), broadcasts it and waits for its proven inclusion (waitTx). */
  async send(key: Key, call: Call, signal?: AbortSignal): Promise<TxResult> {
    const raw = await this.signTx(key, call);
    const hash = await this.broadcast(raw);
    return this.waitTx(hash, signal);
  }

  /** transfer sends amount from key's account to another. */
  async transfer(key: Key, to: Uint8Array, amount: bigint, signal?: AbortSignal): Promise<TxResult> {
    return this.send(key, newCall("accounts", "transfer", encode(TransferArgsSchema, { to, amount })), signal);
  }

  /** broadcast submits a raw transaction and returns its hash once the mempool admitted it; a refusal is its protocol error. */
  async broadcast(raw: Uint8Array): Promise<Uint8Array> {
    let r;
    try {
      r = await this.rpc.broadcastTxSync(raw);
    } catch (e) {
      const m = /is invalid: code=(\d+), data=[0-9A-Fa-f]*, log='(.*)', codespace='([^']*)'/.exec((e as Error).message);
      if (m) throw fromWire(m[3], Number(m[1]), m[2]);
      throw e;
    }
    if (r.code !== 0) throw fromWire(r.codespace, r.code, r.log);
    return r.hash;
  }

  /**
   * waitTx waits until the transaction is included and proves it: the
   * block's transactions hash to the verified header's data hash, and its
   * results to the results hash of the verified header after it.
   */
  async waitTx(hash: Uint8Array, signal?: AbortSignal): Promise<TxResult> {
    for (;;) {
      const h = await this.rpc.txHeight(hash);
      if (h !== 0) return this.proveTx(hash, h);
      if (signal?.aborted || this.signal?.aborted) throw new Error(`sdk: waiting for tx ${hex(hash)}: aborted`);
      await sleep(this.pollMs);
    }
  }

  private async proveTx(hash: Uint8Array, h: number): Promise<TxResult> {
    if (h < 1) throw new ProtocolError(ErrMalformedAnswer, `tx ${hex(hash)}: included at height ${h}`);
    const hdr = await this.verifiedHeader(h);
    const next = await this.verifiedHeader(h + 1);
    const blk = await this.rpc.block(h);
    if (!bytesEqual(txsHash(blk.txs), hdr.dataHash)) throw new ProtocolError(ErrUnprovenTx, `block ${h}: transactions do not hash to its header's data hash`);
    const index = blk.txs.findIndex((t) => bytesEqual(sha256(t), hash));
    if (index < 0) throw new ProtocolError(ErrUnprovenTx, `block ${h} does not contain tx ${hex(hash)}`);
    const results = await this.rpc.blockResults(h);
    if (results.length !== blk.txs.length) throw new ProtocolError(ErrUnprovenTx, `block ${h}: ${results.length} results for ${blk.txs.length} transactions`);
    if (!bytesEqual(resultsHash(results), next.lastResultsHash)) throw new ProtocolError(ErrUnprovenTx, `block ${h}: results do not hash to header ${h + 1}'s`);
    const r = results[index];
    const messages: TxResult["messages"] = [];
    for (const ev of r.events) {
      if (ev.type !== "message") continue;
      const m = { origin: "", topic: "", seq: 0n };
      for (const a of ev.attributes) {
        if (a.key === "origin") m.origin = a.value;
        else if (a.key === "topic") m.topic = a.value;
        else if (a.key === "seq" && /^[0-9]{1,20}$/.test(a.value)) m.seq = BigInt(a.value);
      }
      messages.push(m);
    }
    return { hash, height: h, err: r.code === 0 ? null : fromWire(r.codespace, r.code, r.log), messages };
  }

  /** blockMessages returns block h's message list, verified against the app hash in header h+1. */
  async blockMessages(h: number): Promise<{ block: BlockMessages; messages: Message[] }> {
    const q = await this.query(`${P.messages}${h}`);
    if (!q.value) throw new ProtocolError(ErrMalformedAnswer, `block ${h}: no message list`);
    const block = decodeAnswer<BlockMessages>(BlockMessagesSchema, q.value, `messages of block ${h}`);
    const messages = block.messages.map((m, i) => decodeAnswer<Message>(MessageSchema, m, `message ${i} of block ${h}`));
    const want = await this.verifiedAppHash(h);
    if (!bytesEqual(appHash(block.stateRoot, merkleRoot(block.messages)), want)) {
      throw new ProtocolError(ErrProof, `block ${h}: messages do not give header ${h + 1}'s app hash`);
    }
    return { block, messages };
  }
}

/** newCall builds a module call with its encoded arguments. */
export function newCall(module: string, method: string, args: Uint8Array): Call {
  return { module, method, args };
}

/** decodeAnswer reads a value a node served; an undecodable one is ErrMalformedAnswer. */
export function decodeAnswer<T>(schema: import("./cbor.js").Schema, raw: Uint8Array, what: string, as: ErrorCode = ErrMalformedAnswer): T {
  return decode<T>(schema, raw, what, as);
}

function millis(t: Time): number {
  return Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);
}

export { trustHeight, CallSchema };
