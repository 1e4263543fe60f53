package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
)

// Contract queries (DESIGN section 4.3 "fresh answers only", 4.4): a caller
// asks one worker directly, over its public API, with a request encrypted
// to the worker's current encryption key and signed by the caller's
// account key. The worker answers with a response encrypted back (the HPKE
// export secret of the request) and signed by its identity key, stating
// the height it was computed at. Nothing of a query touches the chain.

// QueryRequest is the body of POST /v1/query (canonical CBOR).
type QueryRequest struct {
	Query QueryHeader `cbor:"query"`
	// Ciphertext is HPKE (enc || ct) to the worker's encryption key, info
	// QueryInfo(chain id, worker), aad QueryAAD(header): the query input.
	Ciphertext []byte `cbor:"ciphertext"`
	// Sig is Query.Signer's signature of SigningBytes under SigQuery.
	Sig []byte `cbor:"sig"`
}

// QueryHeader is what a query's signature, ciphertext and answer are
// bound to. The signer is part of it, so a request is bound to its caller:
// whoever re-signs it under another key changes the aad its ciphertext was
// sealed with (it no longer opens) and the request hash its answer names.
type QueryHeader struct {
	ChainID  string `cbor:"chain_id"`
	Contract []byte `cbor:"contract"`
	Worker   []byte `cbor:"worker"`  // the worker's identity key
	WorkerEK []byte `cbor:"ek_hash"` // SHA-256 of the encryption key sealed to
	// Signer is the caller's ed25519 account key; the contract sees its
	// address as the caller.
	Signer    []byte `cbor:"signer"`
	Nonce     []byte `cbor:"nonce"`      // 16..32 random bytes, never reused
	Expiry    int64  `cbor:"expiry"`     // the last synced height at which the worker may answer
	MinHeight int64  `cbor:"min_height"` // the contract's state must include at least this block
	GasLimit  uint64 `cbor:"gas_limit"`
}

// QuerySigned is what a query's signature covers: the header and the
// ciphertext's digest.
type QuerySigned struct {
	Header           QueryHeader `cbor:"header"`
	CiphertextDigest []byte      `cbor:"ciphertext_digest"`
}

// SigningBytes is the canonical encoding a query signature covers: that
// of QuerySigned.
func (r *QueryRequest) SigningBytes() []byte {
	return querySigning(MustMarshal(&r.Query), r.Ciphertext)
}

// Bindings returns what the request's ciphertext and signature are bound
// to — QueryAAD of its header and its SigningBytes — encoding the header
// once.
func (r *QueryRequest) Bindings() (aad, signing []byte) {
	header := MustMarshal(&r.Query)
	sum := sha256.Sum256(header)
	return sum[:], querySigning(header, r.Ciphertext)
}

// querySigning encodes a QuerySigned around an already encoded header.
func querySigning(header, ciphertext []byte) []byte {
	d := sha256.Sum256(ciphertext)
	return MustMarshal(&struct {
		Header           RawCBOR `cbor:"header"`
		CiphertextDigest []byte  `cbor:"ciphertext_digest"`
	}{header, d[:]})
}

// QueryInfo is the HPKE info of queries to worker. Its version is the
// query protocol's: v2 binds the signer into the header and seals every
// answer under its own key.
func QueryInfo(chainID string, worker []byte) []byte {
	return fmt.Appendf(nil, "phala/query/v2/%s/%x", chainID, worker)
}

// QueryAAD binds a query's ciphertext to its header.
func QueryAAD(h *QueryHeader) []byte {
	sum := sha256.Sum256(MustMarshal(h))
	return sum[:]
}

// Query limits.
const (
	QueryNonceMin = 16
	QueryNonceMax = 32
	// MaxQueryWindow bounds Expiry beyond the worker's synced height, which
	// bounds how long a worker must remember a nonce.
	MaxQueryWindow = 1000
	// MaxQueryBody bounds a request.
	MaxQueryBody = 128 << 10
	// MaxQueryAnswer bounds a response: a reply's output is at most 16 KiB
	// (the contract ABI's bound).
	MaxQueryAnswer = 128 << 10
	// QueryMaxLag is how many blocks behind the chain an answer's state may
	// be by default.
	QueryMaxLag = 30
)

// QueryReply is the plaintext of a query response's Reply.
type QueryReply struct {
	Outcome string `cbor:"outcome"` // OutcomeOK, OutcomeError, OutcomeOutOfGas, OutcomeTrap
	Reason  string `cbor:"reason"`
	Output  []byte `cbor:"output"`
	GasUsed uint64 `cbor:"gas_used"`
}

// QueryResponse is a worker's answer to a query (canonical CBOR).
type QueryResponse struct {
	Answer QueryAnswer `cbor:"answer"`
	// Sig is the worker identity key's signature of Answer under
	// SigResponse.
	Sig []byte `cbor:"sig"`
}

// QueryAnswer is the signed part of a response.
type QueryAnswer struct {
	ChainID  string `cbor:"chain_id"`
	Contract []byte `cbor:"contract"`
	Worker   []byte `cbor:"worker"`
	// Signer echoes the request's signer: the answer is for that caller.
	Signer  []byte `cbor:"signer"`
	Request []byte `cbor:"request"` // SHA-256 of the request's signing bytes
	// Height is the last block applied to the state the answer was computed
	// from (for a contract catching up, below the worker's synced height).
	Height int64 `cbor:"height"`
	// Salt is QueryReplySalt random bytes, fresh for every answer, from
	// which the reply's key derives (SealQueryReply).
	Salt []byte `cbor:"salt"`
	// Reply is the canonical QueryReply sealed with SealQueryReply under
	// the request's HPKE export secret and Salt, aad = Request.
	Reply []byte `cbor:"reply"`
}

// Verify checks a response's signature by worker.
func (r *QueryResponse) Verify(worker []byte) bool {
	return Verify(worker, SigResponse, MustMarshal(&r.Answer), r.Sig)
}

// SignQueryAnswer encodes a QueryResponse for a, signed by priv (the
// worker identity key), encoding the answer once.
func SignQueryAnswer(priv ed25519.PrivateKey, a *QueryAnswer) []byte {
	answer := MustMarshal(a)
	return MustMarshal(&struct {
		Answer RawCBOR `cbor:"answer"`
		Sig    []byte  `cbor:"sig"`
	}{answer, Sign(priv, SigResponse, answer)})
}

// Attested state transfer (DESIGN section 4.3): a cluster member serves the
// state of its cluster's contracts, at a height both have verified,
// encrypted to a newcomer's current encryption key and signed by the
// member's identity. The newcomer checks the signer and the height against
// its own verified view before installing it.

// StateRequest asks a member for its cluster's contract state. The
// requester's pRuntime produces it (GET /v1/state/request); its relayer
// takes it to a member's public API (POST /v1/state).
type StateRequest struct {
	ChainID   string `cbor:"chain_id"`
	Cluster   []byte `cbor:"cluster"`
	Requester []byte `cbor:"requester"` // identity key
	Key       []byte `cbor:"key"`       // its current encryption key
	Nonce     []byte `cbor:"nonce"`
}

// SignedStateRequest is a StateRequest signed by the requester's identity
// under SigStateRequest.
type SignedStateRequest struct {
	Request StateRequest `cbor:"request"`
	Sig     []byte       `cbor:"sig"`
}

// Verify checks the request's signature by its requester.
func (s *SignedStateRequest) Verify() bool {
	return Verify(s.Request.Requester, SigStateRequest, MustMarshal(&s.Request), s.Sig)
}

// StateTransfer is a member's answer: the cluster's contract state after
// block Height, bound to the header that commits to it.
type StateTransfer struct {
	ChainID   string `cbor:"chain_id"`
	Cluster   []byte `cbor:"cluster"`
	Server    []byte `cbor:"server"`    // the member's identity key
	Requester []byte `cbor:"requester"` // whom it is sealed to
	Key       []byte `cbor:"key"`       // the encryption key it is sealed to
	Nonce     []byte `cbor:"nonce"`     // the request's
	// Height is the last block whose messages the state includes; Header
	// is the hash of header Height+1, which commits to that block.
	Height int64  `cbor:"height"`
	Header []byte `cbor:"header"`
	// Sealed is HPKE (enc || ct) to Key, info StateInfo(...), of the
	// canonical encoding of the contracts' state (pRuntime's own format).
	Sealed []byte `cbor:"sealed"`
}

// SignedStateTransfer is a StateTransfer signed by its server under
// SigSnapshot.
type SignedStateTransfer struct {
	Transfer StateTransfer `cbor:"transfer"`
	Sig      []byte        `cbor:"sig"`
}

// Verify checks the transfer's signature by its server.
func (s *SignedStateTransfer) Verify() bool {
	return Verify(s.Transfer.Server, SigSnapshot, MustMarshal(&s.Transfer), s.Sig)
}

// StateInfo is the HPKE info of a state transfer.
func StateInfo(chainID string, cluster, requester []byte, height int64) []byte {
	return fmt.Appendf(nil, "phala/state/v1/%s/%x/%x/%d", chainID, cluster, requester, height)
}

// MaxStateTransfer bounds a state transfer's encoding.
const MaxStateTransfer = 256 << 20

// Contract query and state transfer errors (pRuntime).
var (
	ErrQueryMalformed       = define(SpaceQuery, 5, "malformed query")
	ErrQuerySignature       = define(SpaceQuery, 6, "query signature does not verify")
	ErrQueryReplay          = define(SpaceQuery, 7, "query nonce already used")
	ErrQueryExpired         = define(SpaceQuery, 8, "query expired")
	ErrQueryBehind          = define(SpaceQuery, 9, "worker has not reached the query's minimum height")
	ErrQueryUnknownContract = define(SpaceQuery, 10, "contract is not run by this worker")
	ErrQueryWrongKey        = define(SpaceQuery, 11, "query is not sealed to this worker's current key")
	ErrQueryBusy            = define(SpaceQuery, 12, "worker is busy; retry")
	ErrQueryDecrypt         = define(SpaceQuery, 13, "query ciphertext does not open")
	ErrQueryUnavailable     = define(SpaceQuery, 14, "contract state is not available on this worker")
	ErrQueryGas             = define(SpaceQuery, 15, "query gas limit outside the allowed range")
	ErrQueryStale           = define(SpaceQuery, 16, "contract waits for keys; its state is too far behind this worker's")
	// ErrQueryAnswer is the SDK's refusal of a worker's answer: it does
	// not decode, verify, answer the request asked or meet its minimum
	// height.
	ErrQueryAnswer = define(SpaceQuery, 17, "query answer does not check")

	ErrStateRequest     = define(SpaceRuntime, 12, "invalid state request")
	ErrStateUnavailable = define(SpaceRuntime, 13, "this worker cannot serve its cluster's state now")
	ErrStateTransfer    = define(SpaceRuntime, 14, "invalid state transfer")
	ErrStateAhead       = define(SpaceRuntime, 15, "state transfer is ahead of this worker; sync first")
	ErrStateNotNeeded   = define(SpaceRuntime, 16, "this worker needs no state transfer")
)

// WorkerContract is one contract a worker runs, as its GET /v1/contracts
// lists it.
type WorkerContract struct {
	ID        HexBytes `json:"id"`
	Status    string   `json:"status"`
	StateRoot HexBytes `json:"state_root"`
	// Height is the last block whose events the storage reflects.
	Height int64 `json:"height"`
	// Live is false while the contract waits for a state transfer.
	Live bool `json:"live"`
	// WaitingForKeys is true while commands wait for their epoch's key:
	// Height is then behind the worker's, and once it is more than
	// QueryMaxLag blocks behind, queries are refused (ErrQueryStale).
	WaitingForKeys bool   `json:"waiting_for_keys"`
	NextSeq        uint64 `json:"next_seq"`
	Pending        int    `json:"pending_messages"`
}
