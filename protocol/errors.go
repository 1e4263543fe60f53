package protocol

import (
	"errors"
	"fmt"
)

// Error is a protocol error with a stable identity: a space (the module or
// component that owns it) and a code unique within that space. The pair
// survives the wire (ABCI codespace/code, pRuntime's JSON errors), so a
// caller on the other side can tell errors apart with errors.Is.
//
// Codes are never reused or renumbered; a retired error keeps its number.
type Error struct {
	Space string
	Code  uint32
	Msg   string
}

func (e *Error) Error() string { return e.Space + ": " + e.Msg }

// Is reports whether target is the same protocol error, comparing identity
// (space and code), not text.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Space == e.Space && t.Code == e.Code
}

// detailed is a protocol error with a message naming the offending values.
type detailed struct {
	base   *Error
	detail string
}

func (d *detailed) Error() string { return d.base.Error() + ": " + d.detail }
func (d *detailed) Unwrap() error { return d.base }

// Errorf returns base with a detail message naming the problem; errors.Is
// still matches base.
func Errorf(base *Error, format string, args ...any) error {
	return &detailed{base: base, detail: fmt.Sprintf(format, args...)}
}

// CodeOf returns the protocol error inside err, if any.
func CodeOf(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// FromWire rebuilds an error received over the wire as (space, code, log),
// so that errors.Is works on the receiving side. Unknown codes still keep
// their identity.
func FromWire(space string, code uint32, log string) error {
	base := &Error{Space: space, Code: code, Msg: fmt.Sprintf("code %d", code)}
	if known, ok := registry[wireKey{space, code}]; ok {
		base = known
	}
	return &wireError{base: base, log: log}
}

type wireError struct {
	base *Error
	log  string
}

func (w *wireError) Error() string {
	if w.log == "" {
		return w.base.Error()
	}
	return w.log
}
func (w *wireError) Unwrap() error { return w.base }

type wireKey struct {
	space string
	code  uint32
}

// Error spaces.
const (
	SpaceTx         = "tx"
	SpaceAccounts   = "accounts"
	SpaceMQ         = "mq"
	SpaceGovernance = "governance"
	SpaceRegistry   = "registry"
	SpaceKeys       = "keys"
	SpaceContracts  = "contracts"
	SpaceQuery      = "query"
	// SpaceSDK holds the refusals a client makes itself, of answers a node
	// gave it: they never cross the wire from the chain.
	SpaceSDK = "sdk"
)

// Transaction envelope errors (checked before any module runs).
var (
	ErrMalformed         = define(SpaceTx, 1, "malformed encoding")
	ErrNonCanonical      = define(SpaceTx, 2, "non-canonical encoding")
	ErrOversized         = define(SpaceTx, 3, "transaction too large")
	ErrBadSignature      = define(SpaceTx, 4, "bad signature")
	ErrWrongChainID      = define(SpaceTx, 5, "wrong chain id")
	ErrWrongNonce        = define(SpaceTx, 6, "wrong nonce")
	ErrFeeTooLow         = define(SpaceTx, 7, "fee below minimum")
	ErrInsufficientFunds = define(SpaceTx, 8, "insufficient balance for fee")
	ErrUnknownModule     = define(SpaceTx, 9, "unknown module")
	ErrUnknownMethod     = define(SpaceTx, 10, "unknown method")
	ErrBadArgs           = define(SpaceTx, 11, "invalid call arguments")
	ErrInternal          = define(SpaceTx, 12, "internal error")
)

// accounts module errors.
var (
	ErrInsufficientBalance = define(SpaceAccounts, 1, "insufficient balance")
	ErrBadAddress          = define(SpaceAccounts, 2, "invalid address")
	ErrBadAmount           = define(SpaceAccounts, 3, "invalid amount")
)

// mq module errors.
var (
	ErrBadTopic          = define(SpaceMQ, 1, "bad message topic")
	ErrDuplicateSeq      = define(SpaceMQ, 2, "duplicate message sequence")
	ErrFutureSeq         = define(SpaceMQ, 3, "message sequence ahead of next")
	ErrBadMessageSig     = define(SpaceMQ, 4, "bad message signature")
	ErrPayloadTooLarge   = define(SpaceMQ, 5, "message payload too large")
	ErrOriginNotAllowed  = define(SpaceMQ, 6, "origin may not send this message")
	ErrReservedTopic     = define(SpaceMQ, 7, "topic reserved for the chain")
	ErrBadOrigin         = define(SpaceMQ, 8, "invalid origin")
	ErrSenderUnknown     = define(SpaceMQ, 9, "sender is not a registered worker")
	ErrSenderExpired     = define(SpaceMQ, 10, "sender's registration has expired")
	ErrNotGatekeeper     = define(SpaceMQ, 11, "signer is not a current gatekeeper")
	ErrTooManyMessages   = define(SpaceMQ, 12, "too many messages in block")
	ErrSignerMismatch    = define(SpaceMQ, 13, "signer does not match origin")
	ErrMessageNotSigned  = define(SpaceMQ, 14, "off-chain origin requires a signed message")
	ErrUnknownQueryPath  = define(SpaceQuery, 1, "unknown query path")
	ErrBadQuery          = define(SpaceQuery, 2, "bad query")
	ErrHeightUnavailable = define(SpaceQuery, 3, "height not available")
	ErrProof             = define(SpaceQuery, 4, "proof verification failed")
)

// governance module errors.
var (
	ErrNotEnoughApprovals = define(SpaceGovernance, 1, "not enough admin approvals")
	ErrNotAdmin           = define(SpaceGovernance, 2, "approver is not an admin")
	ErrBadApproval        = define(SpaceGovernance, 3, "bad approval signature")
	ErrDuplicateApproval  = define(SpaceGovernance, 4, "duplicate approval")
	ErrGovNonce           = define(SpaceGovernance, 5, "wrong governance nonce")
	ErrUnknownAction      = define(SpaceGovernance, 6, "unknown governance action")
	ErrBadParams          = define(SpaceGovernance, 7, "invalid chain parameters")
	ErrBadValidatorUpdate = define(SpaceGovernance, 8, "invalid validator update")
	ErrSimForbidden       = define(SpaceGovernance, 9, "sim attestation can only be allowed at genesis")
)

// Client-side refusals of what a node answered (sdk).
var (
	ErrTrustMismatch   = define(SpaceSDK, 1, "node serves another chain than the trusted one")
	ErrUntrustedHeader = define(SpaceSDK, 2, "header not proven by the trusted validators")
	ErrStaleAnswer     = define(SpaceSDK, 3, "answer is not at the height asked")
	ErrStaleHeader     = define(SpaceSDK, 4, "newest verified header is too old")
	ErrBelowMinHeight  = define(SpaceSDK, 5, "node has not reached the minimum height")
	ErrFeeAboveMax     = define(SpaceSDK, 6, "chain's minimum fee exceeds the caller's maximum")
	ErrMalformedAnswer = define(SpaceSDK, 7, "malformed node answer")
	ErrOutsideCluster  = define(SpaceSDK, 8, "worker is not a member of the contract's cluster")
	ErrBadTrustRoot    = define(SpaceSDK, 9, "unusable trust root")
	ErrUnprovenTx      = define(SpaceSDK, 10, "transaction inclusion or outcome not proven")
)

// registry holds every error this package defines, for FromWire. It is
// filled only while the package's variables are initialised.
var registry = map[wireKey]*Error{}

func define(space string, code uint32, msg string) *Error {
	k := wireKey{space, code}
	if _, dup := registry[k]; dup {
		panic(fmt.Sprintf("protocol: duplicate error code %s/%d", space, code))
	}
	e := &Error{Space: space, Code: code, Msg: msg}
	registry[k] = e
	return e
}
