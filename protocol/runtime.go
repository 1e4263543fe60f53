package protocol

import (
	"crypto/sha512"
	"encoding/binary"
)

// SyncBlock carries everything pRuntime needs to verify and apply block H:
// header H+1 with its commit (whose app hash commits to block H), the
// validator set header H+1 names as next when it differs from the current
// one, and block H's message list.
type SyncBlock struct {
	// Height is H, the block whose messages are carried; the header is H+1.
	Height int64 `cbor:"height"`
	// SignedHeader is the protobuf encoding (cometbft.types.v1.SignedHeader)
	// of header H+1 and its commit.
	SignedHeader []byte `cbor:"signed_header"`
	// NextValidators is the protobuf encoding (cometbft.types.v1.ValidatorSet)
	// of the set that header H+1 names in NextValidatorsHash, or empty when
	// that set is the one that signed header H+1.
	NextValidators []byte `cbor:"next_validators"`
	// Messages is block H's state root and message list, as the chain's
	// mq/messages/<H> query answers it.
	Messages BlockMessages `cbor:"messages"`
}

// SyncRequest is the body of pRuntime's POST /v1/sync: consecutive blocks.
type SyncRequest struct {
	Blocks []SyncBlock `cbor:"blocks"`
}

// Limits of one sync request, checked while it is decoded so that a body
// is refused before it costs memory out of proportion to its size.
const (
	// MaxSyncBlocks bounds the blocks of one sync request.
	MaxSyncBlocks = 1000
	// MaxBlockMessages bounds the message list of one block; the chain's
	// max_messages_per_block parameter cannot exceed it.
	MaxBlockMessages = 1 << 16
	// MaxSyncMessages bounds the messages of one sync request. Each costs
	// a slice header (24 bytes) once decoded, whatever its size on the
	// wire, so this bounds what decoding can add to the body: 24 MiB.
	MaxSyncMessages = 1 << 20
)

// SyncResponse is pRuntime's answer to a sync request (JSON).
type SyncResponse struct {
	SyncedHeight int64    `json:"synced_height"`
	AppHash      HexBytes `json:"app_hash"`
	Applied      int      `json:"applied"`
	Skipped      int      `json:"skipped"` // already applied, acknowledged
}

// Info is pRuntime's GET /v1/info answer.
type Info struct {
	Initialized      bool     `json:"initialized"`
	ChainID          string   `json:"chain_id"`
	GenesisHash      HexBytes `json:"genesis_hash"`
	SyncedHeight     int64    `json:"synced_height"`
	AppHash          HexBytes `json:"app_hash"`
	WorkerPubkey     HexBytes `json:"worker_pubkey"`
	EncryptionPubkey HexBytes `json:"encryption_pubkey"`
	Registered       bool     `json:"registered"`
	Epoch            uint64   `json:"epoch"`           // the current key epoch in pRuntime's verified view
	Gatekeeper       bool     `json:"gatekeeper"`      // this worker is a gatekeeper
	HoldsEpochKey    bool     `json:"holds_epoch_key"` // it holds the current epoch's secret or cluster key
	// Cluster is the cluster this worker belongs to (empty: none); it runs
	// Contracts of it. ContractsRoot commits to their state after block
	// ContractsHeight (members of a cluster agree on it at every height).
	Cluster         HexBytes `json:"cluster,omitempty"`
	Contracts       int      `json:"contracts"`
	ContractsRoot   HexBytes `json:"contracts_root,omitempty"`
	ContractsHeight int64    `json:"contracts_height"`
	// NeedsState says a contract waits for an attested state transfer from
	// another member (its relayer arranges one).
	NeedsState      bool   `json:"needs_state"`
	PendingEgress   int    `json:"pending_egress"`
	EgressNextSeq   uint64 `json:"egress_next_seq"`
	TEE             string `json:"tee"`
	Insecure        bool   `json:"insecure"`
	Version         string `json:"version"`
	TrustRootPinned bool   `json:"trust_root_pinned"`
	Warning         string `json:"warning,omitempty"`
}

// EgressResponse lists signed outbound messages (GET /v1/egress).
type EgressResponse struct {
	// Messages are canonical CBOR encodings of SignedMessage, in sequence
	// order, base64 in JSON.
	Messages [][]byte `json:"messages"`
	NextSeq  uint64   `json:"next_seq"`
}

// Attestation is pRuntime's GET /v1/attestation answer: a TEE quote whose
// report data binds the worker's keys to one chain, and to a block of it
// that pRuntime has verified (which proves it is synced to this chain and
// bounds the attestation's age in blocks).
type Attestation struct {
	TEE              string   `json:"tee" cbor:"tee"`
	Quote            []byte   `json:"quote" cbor:"quote"`
	ChainID          string   `json:"chain_id" cbor:"chain_id"`
	GenesisHash      HexBytes `json:"genesis_hash" cbor:"genesis_hash"`
	WorkerPubkey     HexBytes `json:"worker_pubkey" cbor:"worker_pubkey"`
	EncryptionPubkey HexBytes `json:"encryption_pubkey" cbor:"encryption_pubkey"`
	RuntimeVersion   uint32   `json:"runtime_version" cbor:"runtime_version"`
	// Height and BlockHash name the last header pRuntime verified.
	Height    int64    `json:"height" cbor:"height"`
	BlockHash HexBytes `json:"block_hash" cbor:"block_hash"`
	// Collateral optionally carries Intel PCS responses (TCB info, QE
	// identity, CRLs) for a TDX quote, as fetched by the relayer. It is
	// signed by Intel, so whoever fetched it need not be trusted.
	Collateral []CollateralEntry `json:"collateral,omitempty" cbor:"collateral"`
}

// CollateralEntry is one recorded HTTPS response of Intel's PCS.
type CollateralEntry struct {
	URL    string              `json:"url" cbor:"url"`
	Header map[string][]string `json:"header" cbor:"header"`
	Body   []byte              `json:"body" cbor:"body"`
}

// ReportData is what the attestation binds:
// SHA-512("phala/attest/v1" || chain_id || genesis_hash || worker_pubkey ||
// encryption_pubkey || runtime_version || height || block_hash), each field
// length-prefixed. It fills the 64-byte report data of a TDX quote.
func (a *Attestation) ReportData() []byte {
	return ReportData(a.ChainID, a.GenesisHash, a.WorkerPubkey, a.EncryptionPubkey, a.RuntimeVersion, a.Height, a.BlockHash)
}

// ReportData computes an attestation's report data (see Attestation.ReportData).
func ReportData(chainID string, genesisHash, workerPub, encPub []byte, runtimeVersion uint32, height int64, blockHash []byte) []byte {
	h := sha512.New()
	h.Write([]byte("phala/attest/v1"))
	fields := [][]byte{
		[]byte(chainID), genesisHash, workerPub, encPub,
		binary.BigEndian.AppendUint32(nil, runtimeVersion),
		binary.BigEndian.AppendUint64(nil, uint64(height)), blockHash,
	}
	for _, f := range fields {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		h.Write(f)
	}
	return h.Sum(nil)
}

// APIError is the JSON body of every pRuntime error response.
type APIError struct {
	Space   string `json:"space"`
	Code    uint32 `json:"code"`
	Message string `json:"message"`
}

// Error spaces of pRuntime.
const (
	SpaceLight    = "light"
	SpaceDispatch = "dispatch"
	SpaceRuntime  = "runtime"
)

// Light client errors: which check of DESIGN section 4.1 failed.
var (
	ErrLightDecode         = define(SpaceLight, 1, "undecodable header or validator set")
	ErrLightChainID        = define(SpaceLight, 2, "header of another chain")
	ErrLightHeight         = define(SpaceLight, 3, "header height is not the next one")
	ErrLightLastBlockID    = define(SpaceLight, 4, "header does not extend the trusted block")
	ErrLightValidatorsHash = define(SpaceLight, 5, "header validators are not the trusted next validators")
	ErrLightNextValidators = define(SpaceLight, 6, "next validator set does not match the header")
	ErrLightTime           = define(SpaceLight, 7, "header time does not increase")
	ErrLightCommit         = define(SpaceLight, 8, "commit does not carry +2/3 of the trusted voting power")
	ErrLightHeader         = define(SpaceLight, 9, "invalid header or commit")
	ErrLightIncomplete     = define(SpaceLight, 10, "signed header lacks its header or its commit")
	ErrLightValidatorSet   = define(SpaceLight, 11, "invalid validator set: a validator without a usable key, a voting power out of range, or too many validators")
)

// Dispatch errors.
var (
	ErrAppHashMismatch = define(SpaceDispatch, 1, "messages and state root do not match the header's app hash")
	ErrSeqGap          = define(SpaceDispatch, 2, "origin sequence has a gap")
	ErrSeqRepeat       = define(SpaceDispatch, 3, "origin sequence repeats")
	ErrBlockGap        = define(SpaceDispatch, 4, "block is not the next one")
	ErrApply           = define(SpaceDispatch, 5, "a subscriber refused a verified message")
	ErrBlockMismatch   = define(SpaceDispatch, 6, "already-applied height resent with different content")
	ErrBlockForgotten  = define(SpaceDispatch, 7, "already-applied height older than the headers pRuntime remembers")
)

// pRuntime service errors.
var (
	ErrNotInitialized   = define(SpaceRuntime, 1, "pRuntime is not initialised")
	ErrGenesisMismatch  = define(SpaceRuntime, 2, "pRuntime is bound to another genesis")
	ErrBodyTooLarge     = define(SpaceRuntime, 3, "request body too large")
	ErrBadRequest       = define(SpaceRuntime, 4, "bad request")
	ErrTrustRoot        = define(SpaceRuntime, 5, "genesis is not the compiled-in trust root")
	ErrNotFound         = define(SpaceRuntime, 6, "no such endpoint")
	ErrRuntimeInternal  = define(SpaceRuntime, 7, "internal error")
	ErrBadGenesis       = define(SpaceRuntime, 8, "invalid genesis document")
	ErrMethodNotAllowed = define(SpaceRuntime, 9, "method not allowed")
	ErrSealed           = define(SpaceRuntime, 10, "sealed data cannot be opened")
	ErrNotSynced        = define(SpaceRuntime, 11, "pRuntime has not verified any block yet")
	// Sync body decoding (codes 12-16 are the state transfer's, in query.go).
	ErrSyncMalformed       = define(SpaceRuntime, 17, "malformed sync request")
	ErrSyncNonCanonical    = define(SpaceRuntime, 18, "non-canonical sync request encoding")
	ErrSyncBlockMessages   = define(SpaceRuntime, 19, "block carries more messages than pRuntime accepts")
	ErrSyncRequestMessages = define(SpaceRuntime, 20, "sync request carries more messages than pRuntime accepts")
	ErrSyncHeight          = define(SpaceRuntime, 21, "block height out of range")
)
