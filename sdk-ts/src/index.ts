// @phala-go/sdk: the TypeScript SDK of the Phala Go chain, for Node ≥ 20
// and browsers. It mirrors the Go SDK (github.com/phala-go/phala/sdk) and
// verifies what it verifies: docs/sdk-ts.md.

export * from "./errors.js";
export { hex, fromHex, utf8, bytesEqual, randomBytes } from "./bytes.js";
export { encode, decode, extra, type Schema } from "./cbor.js";
export * from "./types.js";
export * from "./crypto.js";
export { Key, parseAddress } from "./keys.js";
export {
  Client, newCall, decodeAnswer, type ClientOptions, type TxResult,
  DefaultMaxFee, DefaultMaxHeaderAgeMs, DefaultMaxClockDriftMs, DefaultTrustingPeriodMs,
} from "./client.js";
export { type TrustRoot, trustToJSON, trustFromJSON, trustHeight } from "./trust.js";
export { stateKey, verifyState, appHash } from "./state.js";
export {
  headerHash, validatorSetHash, voteSignBytes, txsHash, resultsHash, merkleRoot, verifyCommitLight, verifyCommitLightTrusting,
  type Header, type Commit, type Validator, type SignedHeader, type Time, type BlockID,
} from "./comet.js";
export {
  epochRecord, code, contract, commandStatus, sealInitArgs, sealContractCommand, signContractCommand, uploadCode,
  instantiate, sendContractCommand, waitContractKey, waitResult, waitInit, type OpenedResult,
} from "./contracts.js";
export { worker, workerCluster, cluster, verifyWorker, verifyMember, checkAttestation, verifySimQuote, type VerifyOptions } from "./worker.js";
export { PreparedQuery, prepareQuery, postQuery, queryContract, queryWorker, type QueryOptions, type QueryResult } from "./query.js";
