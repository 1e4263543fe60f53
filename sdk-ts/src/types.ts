// The protocol's wire types (Go's protocol package) and their schemas.
// Property names are the wire names in camelCase; uint64 values are
// bigints, byte strings Uint8Arrays, nil null.

import type { Schema, StructSchema } from "./cbor.js";

const s = (fields: StructSchema): Schema => ({ struct: fields });
// ext: a record a newer chain may extend with fields (the result quorum's vouches): they are kept, not refused.
const ext = (fields: StructSchema): Schema => ({ struct: fields, extensible: true });
const arr = (x: Schema): Schema => ({ array: x });
const opt = (x: Schema): Schema => ({ nullable: x });

export interface Call {
  module: string;
  method: string;
  args: Uint8Array; // canonical CBOR of the method's arguments
}
export const CallSchema = s([["module", "text"], ["method", "text"], ["args", "raw"]]);

export interface Tx {
  chainId: string;
  signer: Uint8Array;
  nonce: bigint;
  fee: bigint;
  call: Call;
}
export const TxSchema = s([["chain_id", "text"], ["signer", "bytes"], ["nonce", "u64"], ["fee", "u64"], ["call", CallSchema]]);

export interface SignedTx {
  body: Uint8Array;
  sig: Uint8Array;
}
export const SignedTxSchema = s([["body", "bytes"], ["sig", "bytes"]]);

export interface TransferArgs {
  to: Uint8Array;
  amount: bigint;
}
export const TransferArgsSchema = s([["to", "addr"], ["amount", "u64"]]);

export interface Account {
  balance: bigint;
  nonce: bigint;
}
export const AccountSchema = s([["balance", "u64"], ["nonce", "u64"]]);

export interface Params {
  minFee: bigint;
  maxTxBytes: bigint;
  maxPayloadBytes: bigint;
  maxMessagesPerBlock: bigint;
  allowSimAttestation: boolean;
  rotationInterval: bigint;
  announceWindow: bigint;
  activationDelay: bigint;
  serveTimeout: bigint;
  maxCodeBytes: bigint;
  codeByteFee: bigint;
  maxCommandGas: bigint;
  maxQueryGas: bigint;
  gasPrice: bigint;
}
export const ParamsSchema = s([
  ["min_fee", "u64"], ["max_tx_bytes", "u64"], ["max_payload_bytes", "u64"], ["max_messages_per_block", "u64"],
  ["allow_sim_attestation", "bool"], ["rotation_interval", "u64"], ["announce_window", "u64"], ["activation_delay", "u64"],
  ["serve_timeout", "u64"], ["max_code_bytes", "u64"], ["code_byte_fee", "u64"], ["max_command_gas", "u64"],
  ["max_query_gas", "u64"], ["gas_price", "u64"],
]);

export interface Origin {
  kind: number;
  id: Uint8Array;
}

export interface Message {
  origin: Origin;
  topic: string;
  seq: bigint;
  payload: Uint8Array;
}
export const MessageSchema = s([["origin", "origin"], ["topic", "text"], ["seq", "u64"], ["payload", "bytes"]]);

export interface BlockMessages {
  stateRoot: Uint8Array;
  messages: Uint8Array[];
}
export const BlockMessagesSchema = s([["state_root", "bytes"], ["messages", arr("bytes")]]);

export interface CollateralEntry {
  url: string;
  header: Record<string, string[]>;
  body: Uint8Array;
}
export interface Attestation {
  tee: string;
  quote: Uint8Array;
  chainId: string;
  genesisHash: Uint8Array;
  workerPubkey: Uint8Array;
  encryptionPubkey: Uint8Array;
  runtimeVersion: number;
  height: number;
  blockHash: Uint8Array;
  collateral: CollateralEntry[];
}
export const AttestationSchema = s([
  ["tee", "text"], ["quote", "bytes"], ["chain_id", "text"], ["genesis_hash", "bytes"], ["worker_pubkey", "bytes"],
  ["encryption_pubkey", "bytes"], ["runtime_version", "u32"], ["height", "i64"], ["block_hash", "bytes"],
  ["collateral", arr(s([["url", "text"], ["header", { map: arr("text") }], ["body", "bytes"]]))],
]);

export interface KeyAnnouncement {
  worker: Uint8Array;
  epoch: bigint;
  key: Uint8Array;
  replaces: Uint8Array;
  sig: Uint8Array;
}
export const KeyAnnouncementSchema = s([["worker", "bytes"], ["epoch", "u64"], ["key", "bytes"], ["replaces", "bytes"], ["sig", "bytes"]]);
export const AnnouncementBodySchema = s([["chain_id", "text"], ["worker", "bytes"], ["epoch", "u64"], ["key", "bytes"], ["replaces", "bytes"]]);

export interface WorkerRecord {
  pubkey: Uint8Array;
  encryptionKey: Uint8Array;
  attestationKind: string;
  attestationLevel: string;
  measurement: Uint8Array;
  runtimeVersion: number;
  attestedHeight: number;
  registeredHeight: number;
  expiresAt: number;
  keySince: number;
  operator: Uint8Array;
  status: string;
  endpoint: string;
  endpointSeq: bigint;
  attestation: Attestation;
  keyAnnouncement: KeyAnnouncement | null;
}
export const WorkerRecordSchema = s([
  ["pubkey", "bytes"], ["encryption_key", "bytes"], ["attestation_kind", "text"], ["attestation_level", "text"],
  ["measurement", "bytes"], ["runtime_version", "u32"], ["attested_height", "i64"], ["registered_height", "i64"],
  ["expires_at", "i64"], ["key_since", "i64"], ["operator", "addr"], ["status", "text"], ["endpoint", "text"],
  ["endpoint_seq", "u64"], ["attestation", AttestationSchema], ["key_announcement", opt(KeyAnnouncementSchema)],
]);

export interface ClusterPubkey {
  cluster: Uint8Array;
  pubkey: Uint8Array;
}
const ClusterPubkeySchema = s([["cluster", "bytes"], ["pubkey", "bytes"]]);
export interface Recipient {
  worker: Uint8Array;
  key: Uint8Array;
  role: string;
  cluster: Uint8Array;
}
const RecipientSchema = s([["worker", "bytes"], ["key", "bytes"], ["role", "text"], ["cluster", "bytes"]]);
export interface PendingEpoch {
  epoch: bigint;
  phase: string;
  emergency: boolean;
  requestedAt: number;
  proposeAt: number;
  activateAt: number;
  recipients: Recipient[];
  clusterIds: Uint8Array[];
  clusters: ClusterPubkey[];
}
export interface EpochRecord {
  current: bigint;
  activatedAt: number;
  clusters: ClusterPubkey[];
  lost: boolean;
  pending: PendingEpoch | null;
}
export const EpochRecordSchema = s([
  ["current", "u64"], ["activated_at", "i64"], ["clusters", arr(ClusterPubkeySchema)], ["lost", "bool"],
  ["pending", opt(s([
    ["epoch", "u64"], ["phase", "text"], ["emergency", "bool"], ["requested_at", "i64"], ["propose_at", "i64"],
    ["activate_at", "i64"], ["recipients", arr(RecipientSchema)], ["cluster_ids", arr("bytes")], ["clusters", arr(ClusterPubkeySchema)],
  ]))],
]);

export interface ClusterUpdate {
  cluster: Uint8Array;
  name: string;
  members: Uint8Array[];
}
export const ClusterUpdateSchema = s([["cluster", "bytes"], ["name", "text"], ["members", arr("bytes")]]);

export interface ContractResult {
  kind: string;
  index: bigint;
  outcome: string;
  reason: string;
  reply: Uint8Array;
  gasUsed: bigint;
  stateRoot: Uint8Array;
  emitted: number;
}
export const ContractResultSchema = ext([
  ["kind", "text"], ["index", "u64"], ["outcome", "text"], ["reason", "text"], ["reply", "bytes"],
  ["gas_used", "u64"], ["state_root", "bytes"], ["emitted", "u32"],
]);

export interface ContractPubkey {
  contract: Uint8Array;
  epoch: bigint;
  pubkey: Uint8Array;
}
export interface ContractInfo {
  id: Uint8Array;
  codeHash: Uint8Array;
  cluster: Uint8Array;
  deployer: Uint8Array;
  salt: Uint8Array;
  createdAt: number;
  status: string;
  init: ContractResult | null;
  keys: ContractPubkey[];
  commands: bigint;
}
export const ContractInfoSchema = ext([
  ["id", "bytes"], ["code_hash", "bytes"], ["cluster", "bytes"], ["deployer", "addr"], ["salt", "bytes"],
  ["created_at", "i64"], ["status", "text"], ["init", opt(ContractResultSchema)],
  ["keys", arr(s([["contract", "bytes"], ["epoch", "u64"], ["pubkey", "bytes"]]))], ["commands", "u64"],
]);

export interface CommandStatus {
  contract: Uint8Array;
  index: bigint;
  epoch: bigint;
  sender: Uint8Array;
  height: number;
  result: ContractResult | null;
  resultHeight: number;
}
export const CommandStatusSchema = ext([
  ["contract", "bytes"], ["index", "u64"], ["epoch", "u64"], ["sender", "addr"], ["height", "i64"],
  ["result", opt(ContractResultSchema)], ["result_height", "i64"],
]);

export interface CodeInfo {
  hash: Uint8Array;
  size: bigint;
  uploader: Uint8Array;
  height: number;
}
export const CodeInfoSchema = s([["hash", "bytes"], ["size", "u64"], ["uploader", "addr"], ["height", "i64"]]);

export const UploadCodeArgsSchema = s([["code", "bytes"], ["compression", "text"]]);
export interface InstantiateArgs {
  codeHash: Uint8Array;
  cluster: Uint8Array;
  salt: Uint8Array;
  epoch: bigint;
  gasLimit: bigint;
  initArgs: Uint8Array;
}
export const InstantiateArgsSchema = s([
  ["code_hash", "bytes"], ["cluster", "bytes"], ["salt", "bytes"], ["epoch", "u64"], ["gas_limit", "u64"], ["init_args", "bytes"],
]);
export interface CommandArgs {
  contract: Uint8Array;
  epoch: bigint;
  gasLimit: bigint;
  ciphertext: Uint8Array;
}
export const CommandArgsSchema = s([["contract", "bytes"], ["epoch", "u64"], ["gas_limit", "u64"], ["ciphertext", "bytes"]]);
export interface ContractCommand {
  contract: Uint8Array;
  index: bigint;
  epoch: bigint;
  sender: Uint8Array;
  gasLimit: bigint;
  ciphertext: Uint8Array;
}
export const ContractCommandSchema = s([
  ["contract", "bytes"], ["index", "u64"], ["epoch", "u64"], ["sender", "addr"], ["gas_limit", "u64"], ["ciphertext", "bytes"],
]);

export interface QueryHeader {
  chainId: string;
  contract: Uint8Array;
  worker: Uint8Array;
  ekHash: Uint8Array;
  signer: Uint8Array;
  nonce: Uint8Array;
  expiry: number;
  minHeight: number;
  gasLimit: bigint;
}
export const QueryHeaderSchema = s([
  ["chain_id", "text"], ["contract", "bytes"], ["worker", "bytes"], ["ek_hash", "bytes"], ["signer", "bytes"],
  ["nonce", "bytes"], ["expiry", "i64"], ["min_height", "i64"], ["gas_limit", "u64"],
]);
export const QueryRequestSchema = s([["query", QueryHeaderSchema], ["ciphertext", "bytes"], ["sig", "bytes"]]);
export const QuerySignedSchema = s([["header", "raw"], ["ciphertext_digest", "bytes"]]);

export interface QueryReply {
  outcome: string;
  reason: string;
  output: Uint8Array;
  gasUsed: bigint;
}
export const QueryReplySchema = s([["outcome", "text"], ["reason", "text"], ["output", "bytes"], ["gas_used", "u64"]]);

export interface QueryAnswer {
  chainId: string;
  contract: Uint8Array;
  worker: Uint8Array;
  signer: Uint8Array;
  request: Uint8Array;
  height: number;
  salt: Uint8Array;
  reply: Uint8Array;
}
export const QueryAnswerSchema = s([
  ["chain_id", "text"], ["contract", "bytes"], ["worker", "bytes"], ["signer", "bytes"], ["request", "bytes"],
  ["height", "i64"], ["salt", "bytes"], ["reply", "bytes"],
]);
export const QueryResponseSchema = s([["answer", "raw"], ["sig", "bytes"]]);

export interface SimQuote {
  kind: string;
  build: string;
  rtmr3: Uint8Array;
  reportData: Uint8Array;
  sig: Uint8Array;
}
export const SimQuoteSchema = s([["kind", "text"], ["build", "text"], ["rtmr3", "bytes"], ["report_data", "bytes"], ["sig", "bytes"]]);
export const SimQuoteBodySchema = s([["kind", "text"], ["build", "text"], ["rtmr3", "bytes"], ["report_data", "bytes"]]);

/** Schemas by the names the cross-language vectors use. */
export const schemas: Record<string, Schema> = {
  Tx: TxSchema, SignedTx: SignedTxSchema, TransferArgs: TransferArgsSchema, Account: AccountSchema, Params: ParamsSchema,
  WorkerRecord: WorkerRecordSchema, AnnouncementBody: AnnouncementBodySchema, EpochRecord: EpochRecordSchema,
  ContractInfo: ContractInfoSchema, CommandStatus: CommandStatusSchema, CodeInfo: CodeInfoSchema,
  UploadCodeArgs: UploadCodeArgsSchema, InstantiateArgs: InstantiateArgsSchema, CommandArgs: CommandArgsSchema,
  ContractCommand: ContractCommandSchema, Message: MessageSchema, BlockMessages: BlockMessagesSchema,
  QueryHeader: QueryHeaderSchema, QueryRequest: QueryRequestSchema, QueryReply: QueryReplySchema,
  QueryResponse: s([["answer", QueryAnswerSchema], ["sig", "bytes"]]), ClusterUpdate: ClusterUpdateSchema,
};

// Protocol constants (Go's protocol package).
export const Modules = { accounts: "accounts", mq: "mq", governance: "governance", registry: "registry", keys: "keys", contracts: "contracts" } as const;
export const OriginKind = { account: 1, worker: 2, gatekeeper: 3, contract: 4, cluster: 5, module: 6 } as const;
export const Outcome = { ok: "ok", error: "error", outOfGas: "out_of_gas", trap: "trap", badInput: "bad_input" } as const;
export const ContractStatus = { pending: "pending", active: "active", failed: "failed" } as const;
export const ResultKind = { init: "init", command: "command" } as const;
export const QueryPaths = {
  account: "accounts/", nextSeq: "mq/next_seq/", messages: "mq/messages/", params: "governance/params", govNonce: "governance/nonce",
  policy: "registry/policy", measurement: "registry/measurement/", genesisHash: "registry/genesis_hash", worker: "registry/worker/",
  workerCluster: "keys/wc/", contractEpoch: "contracts/epoch", code: "contracts/code/", contract: "contracts/contract/",
  command: "contracts/command/", epoch: "keys/epoch", cluster: "keys/cluster/",
} as const;
export const ProofOpIAVL = "ics23:iavl";
export const ProofOpMessagesRoot = "phala:messages_root";
/** QueryMaxLag is how many blocks behind the chain an answer's state may be by default. */
export const QueryMaxLag = 30;
/** MaxQueryAnswer bounds a worker's response. */
export const MaxQueryAnswer = 128 << 10;
