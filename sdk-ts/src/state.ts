// Proven state (Go's protocol/statekey.go and proof.go): the state key a
// proven query path answers, and the check of an ABCI answer's proof
// against the app hash of a verified header.

import { calculateExistenceRoot, iavlSpec, ics23, verifyMembership, verifyNonMembership } from "@confio/ics23";
import { bytesEqual, concat, fromHex, hex, u64be, utf8 } from "./bytes.js";
import { merkleRoot } from "./comet.js";
import { ErrBadQuery, ErrProof, ErrUnknownQueryPath, ProtocolError } from "./errors.js";
import { ProofOpIAVL, ProofOpMessagesRoot, QueryPaths as P } from "./types.js";

const originKinds: Record<string, number> = { account: 1, worker: 2, gatekeeper: 3, contract: 4, cluster: 5, module: 6 };

function hexID(path: string, prefix: string, what: string): Uint8Array {
  const s = path.slice(prefix.length);
  if (!/^[0-9a-fA-F]{64}$/.test(s)) throw new ProtocolError(ErrBadQuery, `${JSON.stringify(path)}: want a 32-byte hex ${what}`);
  return fromHex(s);
}

function originKey(text: string): Uint8Array {
  const i = text.indexOf(":");
  const [name, id] = i < 0 ? [text, ""] : [text.slice(0, i), text.slice(i + 1)];
  const kind = originKinds[name];
  if (kind === undefined) throw new ProtocolError(ErrBadQuery, `${JSON.stringify(text)}: unknown origin kind`);
  if (kind === 6) return concat(Uint8Array.of(kind), utf8(id));
  if (kind === 3) return Uint8Array.of(kind);
  return concat(Uint8Array.of(kind), fromHex(id));
}

const key = (module: string, kind: string, ...parts: Uint8Array[]) => concat(utf8(`${module}/${kind}`), ...parts);

/**
 * stateKey is the state key whose value a proven query path answers. A
 * client checks a proof against the key it computes here, never the key
 * the node names, so a node cannot answer with another record's proof.
 */
export function stateKey(path: string): Uint8Array {
  if (path.startsWith(P.account)) {
    const a = path.slice(P.account.length);
    if (!/^[0-9a-fA-F]{40}$/.test(a)) throw new ProtocolError(ErrBadQuery, `${JSON.stringify(a)} is not 20 hex-encoded bytes`);
    return key("accounts", "a/", fromHex(a));
  }
  if (path.startsWith(P.nextSeq)) return key("mq", "n/", originKey(path.slice(P.nextSeq.length)));
  if (path === P.params) return key("governance", "params");
  if (path === P.govNonce) return key("governance", "nonce");
  if (path === P.policy) return key("registry", "policy");
  if (path.startsWith(P.measurement)) return key("registry", "meas/", hexID(path, P.measurement, "measurement"));
  if (path === P.genesisHash) return key("registry", "genesis_hash");
  if (path.startsWith(P.worker)) return key("registry", "w/", hexID(path, P.worker, "worker key"));
  if (path.startsWith(P.workerCluster)) return key("keys", "wc/", hexID(path, P.workerCluster, "worker key"));
  if (path === P.contractEpoch) return key("keys", "epoch");
  if (path.startsWith(P.code)) return key("contracts", "code/", hexID(path, P.code, "code hash"));
  if (path.startsWith(P.contract)) return key("contracts", "c/", hexID(path, P.contract, "contract id"));
  if (path.startsWith(P.command)) {
    const rest = path.slice(P.command.length);
    const [idHex, index] = rest.split("/", 2);
    const id = hexID(P.command + idHex, P.command, "contract id");
    if (index === undefined || !/^[0-9]{1,20}$/.test(index) || BigInt(index) >= 1n << 64n) {
      throw new ProtocolError(ErrBadQuery, `${JSON.stringify(path)}: want ${P.command}<id hex>/<index>`);
    }
    return key("contracts", "cmd/", id, utf8("/"), u64be(BigInt(index)));
  }
  throw new ProtocolError(ErrUnknownQueryPath, `${JSON.stringify(path)} has no proven state key`);
}

/** appHash is the app hash of a block: merkle([stateRoot, messagesRoot]). */
export function appHash(stateRoot: Uint8Array, messagesRoot: Uint8Array): Uint8Array {
  return merkleRoot([stateRoot, messagesRoot]);
}

/** ProofOp is one operation of an ABCI query's proof. */
export interface ProofOp {
  type: string;
  key: Uint8Array;
  data: Uint8Array;
}

/**
 * verifyState checks that value (null: absent) is what the state after
 * block H holds at key, given an ABCI answer's proof ops and appHash, the
 * app hash of block H as verified header H+1 states it. The proof's own
 * root is never trusted: with the messages root it must rebuild appHash.
 * A failure is ErrProof.
 */
export function verifyState(stateKey: Uint8Array, value: Uint8Array | null, ops: ProofOp[] | null, want: Uint8Array): void {
  if (!ops || ops.length !== 2 || ops[0].type !== ProofOpIAVL || ops[1].type !== ProofOpMessagesRoot) {
    throw new ProtocolError(ErrProof, `want proof ops [${ProofOpIAVL}, ${ProofOpMessagesRoot}]`);
  }
  if (!bytesEqual(ops[0].key, stateKey)) throw new ProtocolError(ErrProof, `proof is for key ${hex(ops[0].key)}, not ${hex(stateKey)}`);
  let proof: ics23.CommitmentProof;
  let root: Uint8Array;
  try {
    proof = ics23.CommitmentProof.decode(ops[0].data);
    const exist = proof.exist ?? proof.nonexist?.left ?? proof.nonexist?.right;
    if (!exist) throw new Error("no existence proof to compute a root from");
    root = calculateExistenceRoot(exist);
  } catch (e) {
    throw new ProtocolError(ErrProof, `IAVL proof: ${(e as Error).message}`, { cause: e });
  }
  const ok = value === null
    ? safe(() => verifyNonMembership(proof, iavlSpec, root, stateKey))
    : safe(() => verifyMembership(proof, iavlSpec, root, stateKey, value));
  if (!ok) throw new ProtocolError(ErrProof, value === null ? `absence of ${hex(stateKey)} not proven` : `value of ${hex(stateKey)} not proven`);
  const got = appHash(root, ops[1].data);
  if (!bytesEqual(got, want)) throw new ProtocolError(ErrProof, `state root and messages root give app hash ${hex(got)}, header says ${hex(want)}`);
}

function safe(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}
