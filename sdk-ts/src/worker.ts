// Workers (Go's sdk/worker.go and keys_epoch.go): a worker's registry
// record read with its proof, its attestation re-verified, its cluster
// membership proven, before anything is encrypted to its key.
//
// What is re-verified in TypeScript: the record (proven), its status, the
// attestation's binding to this chain and genesis (proven), the key
// announcement chain from the attested key to the current one, and a sim
// quote in full (signature, modelled RTMR3, report data, measurement). A
// TDX quote is not re-verified here (its Intel certificate chain and
// collateral): TDX workers are refused unless the caller accepts the
// chain's verification of the quote (acceptChainVerifiedTdx), see
// docs/sdk-ts.md, "What TypeScript verifies of a TDX worker".

import { bytesEqual, hex } from "./bytes.js";
import type { Client } from "./client.js";
import { decode, encode } from "./cbor.js";
import { reportData, SigContext, simDevPublicKey, simMeasurement, simRTMR3, verify } from "./crypto.js";
import { ErrOutsideCluster, ErrUnknownCluster, ErrUntrustedHeader, ProtocolError, WorkerNotTrustedError, isError } from "./errors.js";
import { headerHash } from "./comet.js";
import {
  AnnouncementBodySchema, type ClusterUpdate, ClusterUpdateSchema, QueryPaths as P, type SimQuote, SimQuoteBodySchema,
  SimQuoteSchema, type WorkerRecord, WorkerRecordSchema,
} from "./types.js";

/** VerifyOptions say what a caller accepts of a worker. The default is the production requirement. */
export interface VerifyOptions {
  /** Accept workers on the insecure sim TEE (development only). */
  allowSim?: boolean;
  /**
   * Accept a TDX worker on the chain's verification of its quote: the
   * record is proven, so the validators admitted the quote at the level
   * it records. TypeScript does not re-verify TDX quotes itself.
   */
  acceptChainVerifiedTdx?: boolean;
  /** The weakest TDX level accepted: "collateral" (default) or "quote" (development chains). */
  minLevel?: "collateral" | "quote";
  /** If not empty, only these measurements are accepted (on top of the chain's allowlist). */
  measurements?: Uint8Array[];
  /** If set, the chain's proven genesis hash must be this. */
  genesisHash?: Uint8Array;
}

const levelRank: Record<string, number> = { quote: 1, collateral: 2 };

/** worker reads a worker's registry record with its proof; null when absent. */
export function worker(c: Client, pub: Uint8Array): Promise<WorkerRecord | null> {
  return c.proven<WorkerRecord>(P.worker + hex(pub), WorkerRecordSchema);
}

/** workerCluster reads, with its proof, the id of the cluster a worker is a member of; null when in none. */
export async function workerCluster(c: Client, pub: Uint8Array): Promise<Uint8Array | null> {
  const q = await c.verifiedQuery(P.workerCluster + hex(pub));
  return q.value;
}

/** cluster reads a cluster's name and membership without a proof (to find candidates only); null when unknown. */
export async function cluster(c: Client, id: Uint8Array): Promise<ClusterUpdate | null> {
  try {
    const q = await c.query(P.cluster + hex(id));
    return q.value ? decode<ClusterUpdate>(ClusterUpdateSchema, q.value, `cluster ${hex(id)}`) : null;
  } catch (e) {
    if (isError(e, ErrUnknownCluster)) return null;
    throw e;
  }
}

/**
 * verifyWorker checks, before anything is encrypted to a worker's key,
 * that the chain holds an active registration for it (proven), and
 * re-verifies the attestation the chain recorded (see the module's
 * comment for what that covers in TypeScript). It returns the record,
 * whose encryptionKey is the key to encrypt to. A refusal is a
 * WorkerNotTrustedError.
 */
export async function verifyWorker(c: Client, pub: Uint8Array, o: VerifyOptions = {}): Promise<WorkerRecord> {
  const minRank = levelRank[o.minLevel ?? "collateral"];
  if (!minRank) throw new TypeError(`minLevel ${JSON.stringify(o.minLevel)}: want "collateral" or "quote"`);
  const gq = await c.verifiedQuery(P.genesisHash);
  const genesis = gq.value ?? new Uint8Array(0);
  if (o.genesisHash && !bytesEqual(genesis, o.genesisHash)) throw new WorkerNotTrustedError(`the chain's genesis is ${hex(genesis)}, the caller expects ${hex(o.genesisHash)}`);
  const rec = await worker(c, pub);
  if (!rec) throw new WorkerNotTrustedError(`${hex(pub)} is not registered`);
  if (rec.status !== "active") throw new WorkerNotTrustedError(`${hex(pub)} is ${rec.status}`);
  await checkAttestedBlock(c, rec);
  checkAttestation(rec, c.chainId, genesis, o);
  return rec;
}

/**
 * checkAttestedBlock checks the block the attestation binds is this
 * chain's: the node's header at that height must hash to the recorded
 * block hash (the record is proven, so no commit is needed).
 */
async function checkAttestedBlock(c: Client, rec: WorkerRecord): Promise<void> {
  const h = rec.attestation.height;
  if (h < 1) throw new WorkerNotTrustedError(`attestation of block ${h}`);
  const hd = await c.rpc.headerAt(h);
  if (!bytesEqual(headerHash(hd), rec.attestation.blockHash)) {
    throw new ProtocolError(ErrUntrustedHeader, `the node's header ${h} does not hash to ${hex(rec.attestation.blockHash)}, the block the attestation binds`);
  }
}

/** checkAttestation re-verifies a proven worker record's attestation offline (see verifyWorker). */
export function checkAttestation(rec: WorkerRecord, chainId: string, genesisHash: Uint8Array, o: VerifyOptions = {}): void {
  const a = rec.attestation;
  if (a.chainId !== chainId || !bytesEqual(a.workerPubkey, rec.pubkey)) throw new WorkerNotTrustedError("the recorded attestation is for another worker or another chain");
  if (!bytesEqual(a.genesisHash, genesisHash)) throw new WorkerNotTrustedError(`the attestation binds genesis ${hex(a.genesisHash)}, the chain's is ${hex(genesisHash)}`);
  if (rec.attestationKind !== a.tee) throw new WorkerNotTrustedError(`the record says TEE ${JSON.stringify(rec.attestationKind)}, its attestation is ${JSON.stringify(a.tee)}`);
  if (!bytesEqual(a.encryptionPubkey, rec.encryptionKey)) {
    // A rotation replaced the attested key: the attested identity must have signed the current one.
    const ann = rec.keyAnnouncement;
    if (!ann) throw new WorkerNotTrustedError("the current encryption key is neither attested nor announced by the attested identity");
    if (!bytesEqual(ann.worker, rec.pubkey)) throw new WorkerNotTrustedError(`the key announcement is by ${hex(ann.worker)}, not the attested identity`);
    if (!bytesEqual(ann.key, rec.encryptionKey)) throw new WorkerNotTrustedError("the key announcement is of another key than the current one");
    const body = encode(AnnouncementBodySchema, { chainId, worker: ann.worker, epoch: ann.epoch, key: ann.key, replaces: ann.replaces });
    if (!verify(ann.worker, SigContext.keyAnnounce, body, ann.sig)) throw new WorkerNotTrustedError("the key announcement's signature does not verify");
  }
  const want = reportData(a.chainId, a.genesisHash, a.workerPubkey, a.encryptionPubkey, a.runtimeVersion, a.height, a.blockHash);
  let measurement: Uint8Array;
  switch (a.tee) {
    case "sim": {
      if (!o.allowSim) throw new WorkerNotTrustedError("it runs on the insecure sim TEE", { sim: true });
      const q = verifySimQuote(a.quote);
      if (!bytesEqual(q.reportData, want)) throw new WorkerNotTrustedError("the quote does not bind the registered keys");
      measurement = simMeasurement(q.build);
      if (rec.attestationLevel !== "sim") throw new WorkerNotTrustedError(`the record says level ${rec.attestationLevel}, its evidence is sim`);
      break;
    }
    case "tdx": {
      if (!o.acceptChainVerifiedTdx) {
        throw new WorkerNotTrustedError("it runs on TDX, whose quotes this SDK does not re-verify; set acceptChainVerifiedTdx to accept the chain's verification (docs/sdk-ts.md), or use the Go SDK");
      }
      if ((levelRank[rec.attestationLevel] ?? 0) < levelRank[o.minLevel ?? "collateral"]) {
        throw new WorkerNotTrustedError(`its quote was admitted at level ${rec.attestationLevel}, the caller requires ${o.minLevel ?? "collateral"}`);
      }
      measurement = rec.measurement;
      break;
    }
    default:
      throw new WorkerNotTrustedError(`unknown TEE ${JSON.stringify(a.tee)}`);
  }
  if (!bytesEqual(measurement, rec.measurement)) throw new WorkerNotTrustedError(`quote measurement ${hex(measurement)}, registered ${hex(rec.measurement)}`);
  if (o.measurements && o.measurements.length > 0 && !o.measurements.some((m) => bytesEqual(m, measurement))) {
    throw new WorkerNotTrustedError(`measurement ${hex(measurement)} is not one the caller accepts`);
  }
}

/**
 * verifySimQuote checks a sim quote (Go's internal/tee/sim.Verify): its
 * signature by the public development key, and that its RTMR3 is its
 * build's runtime extended once into a fresh register.
 */
export function verifySimQuote(raw: Uint8Array): SimQuote {
  let q: SimQuote;
  try {
    q = decode<SimQuote>(SimQuoteSchema, raw, "sim quote");
  } catch (e) {
    throw new WorkerNotTrustedError(`sim quote: ${(e as Error).message}`, { cause: e });
  }
  if (q.kind !== "sim" || q.reportData.length !== 64 || q.build === "" || q.build.length > 128) {
    throw new WorkerNotTrustedError(`sim quote: kind ${JSON.stringify(q.kind)}, report data ${q.reportData.length} bytes, build name ${q.build.length} bytes`);
  }
  if (!bytesEqual(q.rtmr3, simRTMR3(q.build))) throw new WorkerNotTrustedError("sim quote: RTMR3 is not the build's runtime extended once");
  const body = encode(SimQuoteBodySchema, { kind: q.kind, build: q.build, rtmr3: q.rtmr3, reportData: q.reportData });
  if (!verify(simDevPublicKey(), SigContext.simQuote, body, q.sig)) throw new WorkerNotTrustedError("sim quote: bad signature");
  return q;
}

/**
 * verifyMember is verifyWorker for a worker about to be sent a contract's
 * query: it also proves that the worker is a member of cluster now
 * (ErrOutsideCluster otherwise).
 */
export async function verifyMember(c: Client, clusterId: Uint8Array, pub: Uint8Array, o: VerifyOptions = {}): Promise<WorkerRecord> {
  const inCluster = await workerCluster(c, pub);
  if (!inCluster) throw new ProtocolError(ErrOutsideCluster, `worker ${hex(pub)} is in no cluster; the contract's is ${hex(clusterId)}`);
  if (!bytesEqual(inCluster, clusterId)) throw new ProtocolError(ErrOutsideCluster, `worker ${hex(pub)} is in cluster ${hex(inCluster)}; the contract's is ${hex(clusterId)}`);
  return verifyWorker(c, pub, o);
}
