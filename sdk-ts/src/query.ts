// Encrypted, signed contract queries (Go's sdk/query.go, protocol v2): the
// input is sealed to a verified worker's encryption key, the request is
// signed by the caller (named in the header), and the answer is checked —
// signed by the worker asked, for this request and signer, at least at the
// minimum height — before its reply, sealed under a key of its own, is
// opened.

import { sha256 } from "@noble/hashes/sha2.js";
import { bytesEqual, hex, randomBytes } from "./bytes.js";
import type { Client } from "./client.js";
import { decode, encode } from "./cbor.js";
import { hpkeSealExport, openQueryReply, queryInfo, sign, SigContext, verify } from "./crypto.js";
import { ErrQueryAnswer, ErrUnknownContract, ProtocolError, RuntimeError, fromWire } from "./errors.js";
import type { Key } from "./keys.js";
import { contract } from "./contracts.js";
import { cluster, verifyMember, type VerifyOptions } from "./worker.js";
import {
  MaxQueryAnswer, type QueryAnswer, QueryAnswerSchema, type QueryHeader, QueryHeaderSchema, type QueryReply, QueryReplySchema,
  QueryMaxLag, QueryRequestSchema, QueryResponseSchema, QuerySignedSchema, type WorkerRecord,
} from "./types.js";

export interface QueryOptions {
  /** Gas bound of the query's execution (default 10,000,000). */
  gasLimit?: bigint;
  /** The least block the answer's state must include (pass the height a command of yours landed at to see its effect). */
  minHeight?: number;
  /** How many blocks behind the verified tip the answer's state may be (default 30; negative: any from minHeight on). */
  maxLag?: number;
  /** How many blocks the request stays valid (default 100). */
  window?: number;
  /** The worker to ask (its identity key); by default the first verified member of the contract's cluster with an endpoint. */
  worker?: Uint8Array;
  /** What the caller accepts of the worker; its attestation is re-verified before anything is encrypted to it. */
  verify?: VerifyOptions;
  /** The fetch to reach workers with (default globalThis.fetch). */
  fetch?: typeof fetch;
}

/** QueryResult is a worker's verified, decrypted answer. */
export interface QueryResult extends QueryReply {
  /** The last block of the state the answer was computed from. */
  height: number;
  /** The identity key of the worker that signed the answer. */
  worker: Uint8Array;
}

/** PreparedQuery is a sealed, signed query and what its caller needs to read the answer. */
export class PreparedQuery {
  constructor(readonly body: Uint8Array, readonly header: QueryHeader, readonly request: Uint8Array, private readonly secret: Uint8Array) {}

  /**
   * open checks a worker's response — that it answers this request of
   * this signer, is signed by the worker asked, and is not older than the
   * minimum height — and decrypts it. Every refusal is ErrQueryAnswer.
   */
  open(raw: Uint8Array): QueryResult {
    const refuse = (d: string, cause?: unknown) => new ProtocolError(ErrQueryAnswer, d, { cause });
    let resp: { answer: Uint8Array; sig: Uint8Array };
    let a: QueryAnswer;
    try {
      resp = decode(QueryResponseSchema, raw, "query response");
      a = decode<QueryAnswer>(QueryAnswerSchema, resp.answer, "query answer");
    } catch (e) {
      throw refuse(`decode: ${(e as Error).message}`, e);
    }
    const h = this.header;
    if (!verify(h.worker, SigContext.response, resp.answer, resp.sig)) throw refuse(`not signed by worker ${hex(h.worker)}`);
    if (a.chainId !== h.chainId || !bytesEqual(a.contract, h.contract) || !bytesEqual(a.worker, h.worker)) {
      throw refuse(`answers a query to contract ${hex(a.contract)} of worker ${hex(a.worker)} on chain ${JSON.stringify(a.chainId)}`);
    }
    if (!bytesEqual(a.signer, h.signer)) throw refuse(`answers signer ${hex(a.signer)}, this query's is ${hex(h.signer)}`);
    if (!bytesEqual(a.request, this.request)) throw refuse(`answers request ${hex(a.request)}, this one is ${hex(this.request)}`);
    if (a.height < h.minHeight) throw refuse(`computed at ${a.height}, below the minimum ${h.minHeight}`);
    let reply: QueryReply;
    try {
      reply = decode<QueryReply>(QueryReplySchema, openQueryReply(this.secret, a.salt, this.request, a.reply), "query reply");
    } catch (e) {
      throw refuse(`reply: ${(e as Error).message}`, e);
    }
    return { ...reply, height: a.height, worker: a.worker };
  }
}

/**
 * prepareQuery seals input to the worker's encryption key (ek) and signs
 * the query with key, which it names as the header's signer. The header's
 * ekHash, signer and (if empty) nonce are filled in.
 */
export async function prepareQuery(key: Key, header: Omit<QueryHeader, "ekHash" | "signer" | "nonce"> & { nonce?: Uint8Array }, ek: Uint8Array, input: Uint8Array): Promise<PreparedQuery> {
  const h: QueryHeader = { ...header, ekHash: sha256(ek), signer: key.publicKey, nonce: header.nonce && header.nonce.length > 0 ? header.nonce : randomBytes(16) };
  const encodedHeader = encode(QueryHeaderSchema, h);
  const { sealed, secret } = await hpkeSealExport(ek, queryInfo(h.chainId, h.worker), sha256(encodedHeader), input);
  const signing = encode(QuerySignedSchema, { header: encodedHeader, ciphertextDigest: sha256(sealed) });
  const body = encode(QueryRequestSchema, { query: h, ciphertext: sealed, sig: sign(key.seed, SigContext.query, signing) });
  return new PreparedQuery(body, h, sha256(signing), secret);
}

/** postQuery posts an encoded request to a worker's public API and returns its encoded answer, bounded in size. */
export async function postQuery(endpoint: string, body: Uint8Array, f: typeof fetch = globalThis.fetch): Promise<Uint8Array> {
  const url = (endpoint.includes("://") ? endpoint : `http://${endpoint}`).replace(/\/+$/, "") + "/v1/query";
  const resp = await f(url, { method: "POST", headers: { "Content-Type": "application/cbor" }, body: body.slice() });
  const raw = await readLimited(resp, MaxQueryAnswer);
  if (resp.status !== 200) {
    let e: { error?: { space?: unknown; code?: unknown; message?: unknown } } | undefined;
    try {
      e = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      /* not a protocol error */
    }
    const pe = e?.error;
    if (pe && typeof pe.space === "string" && pe.space && typeof pe.code === "number") {
      throw new RuntimeError(resp.status, fromWire(pe.space, pe.code, String(pe.message ?? "")));
    }
    throw new Error(`pruntime POST ${url}: HTTP ${resp.status}: ${new TextDecoder().decode(raw.slice(0, 200))}`);
  }
  return raw;
}

async function readLimited(resp: Response, limit: number): Promise<Uint8Array> {
  const reader = resp.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > limit) {
      await reader.cancel();
      throw new ProtocolError(ErrQueryAnswer, `answer exceeds ${limit} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * queryContract asks a verified member of the contract's cluster a
 * read-only query, encrypted to it and signed by key (the contract sees
 * key's address as the caller), and returns its verified answer, whose
 * state includes at least block o.minHeight and the verified tip minus
 * o.maxLag.
 */
export async function queryContract(c: Client, key: Key, id: Uint8Array, input: Uint8Array, o: QueryOptions = {}): Promise<QueryResult> {
  const w = await queryWorker(c, id, o);
  const tip = await c.verifiedTip(); // freshness is measured from a tip no node can lower
  const lag = o.maxLag === undefined || o.maxLag === 0 ? QueryMaxLag : o.maxLag;
  const minHeight = lag < 0 ? (o.minHeight ?? 0) : Math.max(o.minHeight ?? 0, tip - lag, 0);
  const q = await prepareQuery(key, { chainId: c.chainId, contract: id, worker: w.pubkey, expiry: tip + (o.window && o.window > 0 ? o.window : 100), minHeight, gasLimit: o.gasLimit ?? 10_000_000n }, w.encryptionKey, input);
  return q.open(await postQuery(w.endpoint, q.body, o.fetch));
}

/**
 * queryWorker picks the worker to ask: o.worker, or the first member of
 * the contract's cluster that verifies and has an endpoint. Either way its
 * membership of the contract's cluster is proven (verifyMember).
 */
export async function queryWorker(c: Client, id: Uint8Array, o: QueryOptions = {}): Promise<WorkerRecord> {
  const info = await contract(c, id);
  if (!info) throw new ProtocolError(ErrUnknownContract, hex(id));
  let candidates: Uint8Array[];
  if (o.worker) {
    candidates = [o.worker];
  } else {
    const cl = await cluster(c, info.cluster);
    if (!cl || cl.members.length === 0) throw new Error(`sdk: cluster ${hex(info.cluster)} has no members`);
    candidates = cl.members;
  }
  const errs: unknown[] = [];
  for (const pub of candidates) {
    try {
      const rec = await verifyMember(c, info.cluster, pub, o.verify);
      if (rec.endpoint) return rec;
      errs.push(new Error(`worker ${hex(pub)} announced no endpoint`));
    } catch (e) {
      errs.push(e);
    }
  }
  const first = errs[0] as Error | undefined;
  throw new Error(`sdk: no worker to query: ${errs.map((e) => (e as Error).message).join("; ")}`, { cause: first });
}
