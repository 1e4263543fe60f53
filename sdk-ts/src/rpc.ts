// The node's CometBFT JSON-RPC, through @cosmjs/tendermint-rpc. Nothing
// here is trusted: answers are converted into the light client's types
// and checked only for shape; a shape that cannot be read is
// ErrMalformedAnswer. Verification is the light client's and the
// client's business.

import { Comet1Client, HttpClient, type comet1 } from "@cosmjs/tendermint-rpc";
import { bytesEqual, hex } from "./bytes.js";
import type { BlockID, Commit, ExecResult, Header, SignedHeader, Time, Validator } from "./comet.js";
import { validatorAddress } from "./comet.js";
import { ErrMalformedAnswer, ProtocolError } from "./errors.js";

/** maxValidators bounds a validator set a node may describe (CometBFT's MaxVotesCount). */
export const maxValidators = 10_000;

/** RPCTimeoutMs bounds every request, so that a node that stops answering is noticed. */
export const RPCTimeoutMs = 30_000;

type DateNs = { getTime(): number; nanoseconds?: number };

function time(d: DateNs | undefined | null): Time {
  if (!d) return { seconds: -62135596800n, nanos: 0 }; // Go's zero time
  const ms = d.getTime();
  if (!Number.isFinite(ms)) throw new TypeError("invalid time");
  const secs = Math.floor(ms / 1000);
  return { seconds: BigInt(secs), nanos: (ms - secs * 1000) * 1e6 + (d.nanoseconds ?? 0) };
}

function blockId(b: comet1.BlockId | null | undefined): BlockID {
  if (!b) return { hash: new Uint8Array(0), parts: { total: 0, hash: new Uint8Array(0) } };
  return { hash: b.hash, parts: { total: b.parts.total, hash: b.parts.hash } };
}

function header(h: comet1.Header): Header {
  return {
    version: { block: BigInt(h.version.block), app: BigInt(h.version.app) },
    chainId: h.chainId,
    height: h.height,
    time: time(h.time),
    lastBlockId: blockId(h.lastBlockId),
    lastCommitHash: h.lastCommitHash,
    dataHash: h.dataHash,
    validatorsHash: h.validatorsHash,
    nextValidatorsHash: h.nextValidatorsHash,
    consensusHash: h.consensusHash,
    appHash: h.appHash,
    lastResultsHash: h.lastResultsHash,
    evidenceHash: h.evidenceHash,
    proposerAddress: h.proposerAddress,
  };
}

function commit(c: comet1.Commit): Commit {
  return {
    height: c.height,
    round: c.round,
    blockId: blockId(c.blockId),
    signatures: c.signatures.map((s) => ({
      flag: s.blockIdFlag,
      address: s.validatorAddress ?? new Uint8Array(0),
      time: time(s.timestamp),
      signature: s.signature ?? new Uint8Array(0),
    })),
  };
}

/**
 * validator checks a validator a node (or a genesis) described: an
 * ed25519 key of 32 bytes whose address is the one given, and a positive
 * power (what Go's validatorSet checks before CometBFT would panic).
 */
export function validator(pubkey: { algorithm: string; data: Uint8Array } | undefined, power: bigint, address?: Uint8Array): Validator {
  if (!pubkey || pubkey.algorithm !== "ed25519" || pubkey.data.length !== 32) throw new TypeError("validator without an ed25519 key of 32 bytes");
  if (power <= 0n || power > 1n << 60n) throw new TypeError(`validator power ${power}`);
  const a = validatorAddress(pubkey.data);
  if (address && !bytesEqual(address, a)) throw new TypeError(`validator address ${hex(address)} is not its key's`);
  return { address: a, pubkey: pubkey.data, power };
}

/** checkSet refuses duplicate validators and totals beyond CometBFT's limit. */
export function checkSet(vals: Validator[]): Validator[] {
  if (vals.length === 0 || vals.length > maxValidators) throw new TypeError(`validator set of ${vals.length} validators`);
  const seen = new Set<string>();
  let total = 0n;
  for (const v of vals) {
    const a = hex(v.address);
    if (seen.has(a)) throw new TypeError(`validator ${a} appears twice`);
    seen.add(a);
    total += v.power;
  }
  if (total > (1n << 63n) / 8n) throw new TypeError(`total voting power ${total}`);
  return vals;
}

/** AbciAnswer is an ABCI query's answer. */
export interface AbciAnswer {
  value: Uint8Array | null; // null: absent
  height: number;
  ops: { type: string; key: Uint8Array; data: Uint8Array }[] | null;
  code: number;
  codespace: string;
  log: string;
}

/** TxEvent is an event of a transaction's result. */
export interface TxEvent {
  type: string;
  attributes: { key: string; value: string }[];
}

/** RPC is a node's CometBFT RPC. */
export class RPC {
  private nextId = 1;

  private constructor(readonly url: string, private readonly http: HttpClient, private readonly c: Comet1Client) {}

  /** connect makes a client of url (http(s)://host:port; tcp:// is read as http://). */
  static async connect(url: string): Promise<RPC> {
    const u = url.replace(/^tcp:\/\//, "http://");
    const http = new HttpClient(u, RPCTimeoutMs);
    return new RPC(u, http, Comet1Client.create(http));
  }

  private async call<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      // cosmjs throws TypeErrors and assertion errors on answers it cannot read.
      if (e instanceof TypeError || /must be|Expected|not a|invalid|Invalid|Unexpected|cannot|Cannot/.test(msg)) {
        if (!/fetch failed|ECONNREFUSED|NetworkError|Failed to fetch|aborted|timeout/i.test(msg)) {
          throw new ProtocolError(ErrMalformedAnswer, `${what}: ${msg}`, { cause: e });
        }
      }
      throw new Error(`sdk: ${what}: ${msg}`, { cause: e });
    }
  }

  private shape<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw new ProtocolError(ErrMalformedAnswer, `${what}: ${(e as Error).message}`, { cause: e });
    }
  }

  async status(): Promise<{ chainId: string; height: number }> {
    const st = await this.call("status", () => this.c.status());
    return this.shape("status", () => ({ chainId: st.nodeInfo.network, height: st.syncInfo.latestBlockHeight }));
  }

  async genesis(): Promise<{ chainId: string; time: Time; validators: Validator[] }> {
    const g = await this.call("genesis", () => this.c.genesis());
    return this.shape("genesis", () => {
      const ms = g.genesisTime.getTime();
      const secs = Math.floor(ms / 1000);
      return {
        chainId: g.chainId,
        time: { seconds: BigInt(secs), nanos: (ms - secs * 1000) * 1e6 },
        validators: checkSet(g.validators.map((v) => validator(v.pubkey, v.power, v.address))),
      };
    });
  }

  /** signedHeader returns header h with its commit. */
  async signedHeader(h: number): Promise<SignedHeader> {
    const r = await this.call(`commit ${h}`, () => this.c.commit(h));
    const sh = this.shape(`commit ${h}`, () => ({ header: header(r.header), commit: commit(r.commit) }));
    if (sh.header.height !== h) throw new ProtocolError(ErrMalformedAnswer, `asked header ${h}, got ${sh.header.height}`);
    return sh;
  }

  /** validators returns the validator set of height h, read page by page, at most maxValidators. */
  async validators(h: number): Promise<Validator[]> {
    const all: Validator[] = [];
    for (let page = 1; ; page++) {
      const r = await this.call(`validators ${h}`, () => this.c.validators({ height: h, page, per_page: 100 }));
      const got = this.shape(`validators ${h}`, () => r.validators.map((v) => validator(v.pubkey, v.votingPower, v.address)));
      all.push(...got);
      if (all.length > maxValidators) throw new ProtocolError(ErrMalformedAnswer, `validators ${h}: more than ${maxValidators}`);
      if (all.length >= r.total || got.length === 0) break;
    }
    return this.shape(`validators ${h}`, () => checkSet(all));
  }

  /** headers returns headers lo..hi, newest first, as the node lists them. */
  async headers(lo: number, hi: number): Promise<Header[]> {
    const r = await this.call(`headers ${lo}..${hi}`, () => this.c.blockchain(lo, hi));
    return this.shape(`headers ${lo}..${hi}`, () => r.blockMetas.map((m) => header(m.header)));
  }

  /** headerAt returns header h as the node serves it. */
  async headerAt(h: number): Promise<Header> {
    const hs = await this.headers(h, h);
    if (hs.length !== 1 || hs[0].height !== h) throw new ProtocolError(ErrMalformedAnswer, `asked header ${h}`);
    return hs[0];
  }

  /**
   * abciQuery runs an ABCI query with a proof. Its answer is read here
   * rather than by cosmjs, which cannot read a proof op without a key
   * (the chain's messages-root op has none).
   */
  async abciQuery(path: string, height = 0): Promise<AbciAnswer> {
    const params: { [k: string]: string | boolean } = { path, data: "", prove: true };
    if (height) params.height = String(height);
    const r = await this.call(`query ${path}`, () => this.http.execute({ jsonrpc: "2.0", id: this.nextId++, method: "abci_query", params }));
    return this.shape(`query ${path}`, () => {
      const res = (r.result as { response?: Record<string, unknown> })?.response;
      if (!res || typeof res !== "object") throw new TypeError("no response");
      const ops = (res.proofOps ?? res.proof_ops) as { ops?: { type?: unknown; key?: unknown; data?: unknown }[] } | null | undefined;
      const value = base64(res.value);
      return {
        value: value.length === 0 ? null : value,
        height: smallInt(res.height),
        ops: ops?.ops ? ops.ops.map((o) => ({ type: String(o.type ?? ""), key: base64(o.key), data: base64(o.data) })) : null,
        code: smallInt(res.code),
        codespace: typeof res.codespace === "string" ? res.codespace : "",
        log: typeof res.log === "string" ? res.log : "",
      };
    });
  }

  async broadcastTxSync(tx: Uint8Array): Promise<{ code: number; codespace: string; log: string; hash: Uint8Array }> {
    const r = await this.call("broadcast", () => this.c.broadcastTxSync({ tx }));
    return { code: r.code, codespace: r.codespace ?? "", log: r.log ?? "", hash: r.hash };
  }

  /** txHeight returns the height the node says a transaction is in, or 0 while it knows none. */
  async txHeight(hash: Uint8Array): Promise<number> {
    try {
      const r = await this.c.tx({ hash });
      return r.height;
    } catch (e) {
      // CometBFT answers an unknown hash with an HTTP error whose body says so.
      const text = `${(e as Error).message} ${JSON.stringify((e as { cause?: unknown }).cause ?? "")}`;
      if (/not found/i.test(text)) return 0;
      throw new Error(`sdk: tx ${hex(hash)}: ${(e as Error).message}`, { cause: e });
    }
  }

  async block(h: number): Promise<{ header: Header; txs: Uint8Array[] }> {
    const r = await this.call(`block ${h}`, () => this.c.block(h));
    return this.shape(`block ${h}`, () => ({ header: header(r.block.header), txs: [...r.block.txs] }));
  }

  async blockResults(h: number): Promise<(ExecResult & { codespace: string; log: string; events: TxEvent[] })[]> {
    const r = await this.call(`results of block ${h}`, () => this.c.blockResults(h));
    return this.shape(`results of block ${h}`, () =>
      r.results.map((x) => ({
        code: x.code,
        data: x.data ?? new Uint8Array(0),
        gasWanted: x.gasWanted,
        gasUsed: x.gasUsed,
        codespace: x.codespace ?? "",
        log: x.log ?? "",
        events: x.events.map((e) => ({ type: e.type, attributes: e.attributes.map((a) => ({ key: a.key, value: a.value })) })),
      })),
    );
  }
}

function base64(x: unknown): Uint8Array {
  if (x === null || x === undefined || x === "") return new Uint8Array(0);
  if (typeof x !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(x)) throw new TypeError("not base64");
  const b = atob(x);
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

function smallInt(x: unknown): number {
  if (x === null || x === undefined || x === "") return 0;
  const n = typeof x === "string" && /^-?[0-9]{1,16}$/.test(x) ? Number(x) : typeof x === "number" ? x : NaN;
  if (!Number.isSafeInteger(n)) throw new TypeError(`${JSON.stringify(x)} is not an integer`);
  return n;
}
