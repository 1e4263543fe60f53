// Package light is pRuntime's light validation client: sequential header
// verification from a pinned genesis, with no clock (DESIGN section 4.1).
//
// Verification is a pure function of (trusted state, untrusted header,
// commit and validator set) to a new trusted state or a typed error naming
// the failed check. It never skips heights: skipping needs a trusting
// period, which needs a trusted clock, and the verified block time is the
// only clock pRuntime has.
package light

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"time"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	cryptoenc "github.com/cometbft/cometbft/crypto/encoding"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/protocol"
)

// TrustRoot is what pRuntime trusts about the chain: its id, the hash of its
// genesis document, and the genesis validator set and time.
type TrustRoot struct {
	ChainID     string
	GenesisHash []byte
	GenesisTime time.Time
	Validators  *types.ValidatorSet
}

// pinnedGenesisHash is the compiled-in trust root, set at build time with
//
//	-ldflags "-X github.com/phala-go/phala/internal/pruntime/light.pinnedGenesisHash=<hex>"
//
// so that it is covered by the enclave measurement. Empty: nothing pinned.
var pinnedGenesisHash string

// PinnedGenesisHash returns the compiled-in genesis hash, if any.
func PinnedGenesisHash() ([]byte, bool, error) {
	if pinnedGenesisHash == "" {
		return nil, false, nil
	}
	h, err := hex.DecodeString(pinnedGenesisHash)
	if err != nil || len(h) != 32 {
		return nil, false, fmt.Errorf("light: compiled-in genesis hash %q is not 32 hex bytes", pinnedGenesisHash)
	}
	return h, true, nil
}

// NewTrustRoot reads a genesis document. If pinned is not nil, the document
// must hash to it.
func NewTrustRoot(genesisJSON []byte, pinned []byte) (*TrustRoot, error) {
	doc, err := protocol.ParseGenesisDoc(genesisJSON)
	if err != nil {
		return nil, err
	}
	if doc.InitialHeight != 1 {
		return nil, protocol.Errorf(protocol.ErrBadGenesis, "initial height %d unsupported", doc.InitialHeight)
	}
	hash, err := protocol.GenesisHash(doc)
	if err != nil {
		return nil, err
	}
	if pinned != nil && !bytes.Equal(hash, pinned) {
		return nil, protocol.Errorf(protocol.ErrTrustRoot, "genesis hash %X, compiled-in %X", hash, pinned)
	}
	vals := make([]*types.Validator, len(doc.Validators))
	for i, v := range doc.Validators {
		vals[i] = types.NewValidator(v.PubKey, v.Power)
	}
	set, err := types.ValidatorSetFromExistingValidators(vals)
	if err != nil || set.IsNilOrEmpty() {
		return nil, protocol.Errorf(protocol.ErrBadGenesis, "genesis validators: %v", err)
	}
	return &TrustRoot{ChainID: doc.ChainID, GenesisHash: hash, GenesisTime: doc.GenesisTime, Validators: set}, nil
}

// State is the trusted state after the last verified header.
type State struct {
	ChainID string
	// Height of the last verified header; 0 before any (genesis).
	Height int64
	// BlockID of the last verified header (zero at genesis).
	BlockID types.BlockID
	// Time of the last verified header (genesis time at genesis): pRuntime's
	// clock.
	Time time.Time
	// AppHash of the last verified header: it commits to block Height-1.
	AppHash []byte
	// NextValidators must sign the next header.
	NextValidators *types.ValidatorSet
	nextHash       []byte
}

// Genesis returns the state before header 1.
func Genesis(root *TrustRoot) *State {
	return newState(root.ChainID, 0, types.BlockID{}, root.GenesisTime, nil, root.Validators)
}

func newState(chainID string, h int64, id types.BlockID, t time.Time, appHash []byte, next *types.ValidatorSet) *State {
	return &State{ChainID: chainID, Height: h, BlockID: id, Time: t, AppHash: appHash, NextValidators: next, nextHash: next.Hash()}
}

// DecodeSignedHeader reads a protobuf SignedHeader. Both the header and
// the commit must be present (ErrLightIncomplete otherwise): every caller
// needs both, and CometBFT's decoder leaves a missing one nil.
func DecodeSignedHeader(b []byte) (*types.SignedHeader, error) {
	var pb cmtproto.SignedHeader
	if err := pb.Unmarshal(b); err != nil {
		return nil, protocol.Errorf(protocol.ErrLightDecode, "signed header: %v", err)
	}
	if pb.Header == nil || pb.Commit == nil {
		return nil, protocol.Errorf(protocol.ErrLightIncomplete, "signed header of %d bytes: header present %t, commit present %t", len(b), pb.Header != nil, pb.Commit != nil)
	}
	sh, err := types.SignedHeaderFromProto(&pb)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrLightDecode, "signed header: %v", err)
	}
	return sh, nil
}

// DecodeValidatorSet reads a protobuf ValidatorSet; empty input is nil.
//
// CometBFT's ValidatorSetFromProto panics on a validator without a public
// key and on a total voting power above types.MaxTotalVotingPower, so the
// set is checked here first (ErrLightValidatorSet): every validator and the
// proposer carry a key, every power is positive, the total stays within
// the limit, addresses are unique and there are at most
// types.MaxVotesCount validators.
func DecodeValidatorSet(b []byte) (*types.ValidatorSet, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var pb cmtproto.ValidatorSet
	if err := pb.Unmarshal(b); err != nil {
		return nil, protocol.Errorf(protocol.ErrLightDecode, "validator set: %v", err)
	}
	if err := checkValidatorSet(&pb); err != nil {
		return nil, err
	}
	vs, err := types.ValidatorSetFromProto(&pb)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrLightDecode, "validator set: %v", err)
	}
	return vs, nil
}

func checkValidatorSet(pb *cmtproto.ValidatorSet) error {
	bad := func(format string, args ...any) error {
		return protocol.Errorf(protocol.ErrLightValidatorSet, format, args...)
	}
	if n := len(pb.Validators); n == 0 || n > types.MaxVotesCount {
		return bad("%d validators, want 1..%d", n, types.MaxVotesCount)
	}
	seen := make(map[string]bool, len(pb.Validators))
	var total int64
	for i, v := range pb.Validators {
		if v == nil || !hasKey(v) {
			return bad("validator %d has no usable public key", i)
		}
		if v.VotingPower <= 0 || v.VotingPower > types.MaxTotalVotingPower-total {
			return bad("validator %d: voting power %d with %d before it; each must be positive and the total at most %d", i, v.VotingPower, total, types.MaxTotalVotingPower)
		}
		total += v.VotingPower
		if seen[string(v.Address)] {
			return bad("validator %d: address %X repeated", i, v.Address)
		}
		seen[string(v.Address)] = true
	}
	if pb.Proposer == nil || !hasKey(pb.Proposer) {
		return bad("proposer has no usable public key")
	}
	return nil
}

// hasKey reports whether ValidatorFromProto will find a public key in v
// rather than dereference its nil legacy key field.
func hasKey(v *cmtproto.Validator) bool {
	if v.PubKey != nil {
		return true
	}
	_, err := cryptoenc.PubKeyFromTypeAndBytes(v.PubKeyType, v.PubKeyBytes)
	return err == nil
}

// Verify checks header H+1 (sh) against the trusted state after header H,
// with nextVals the validator set sh names as next (nil if it is the set
// that signed sh). It returns the new trusted state; trusted is unchanged.
func Verify(trusted *State, sh *types.SignedHeader, nextVals *types.ValidatorSet) (*State, error) {
	if sh == nil || sh.Header == nil || sh.Commit == nil {
		return nil, protocol.Errorf(protocol.ErrLightIncomplete, "missing header or commit")
	}
	h := sh.Header
	want := trusted.Height + 1
	if h.ChainID != trusted.ChainID {
		return nil, protocol.Errorf(protocol.ErrLightChainID, "header %d: chain %q, trusted %q", h.Height, h.ChainID, trusted.ChainID)
	}
	if h.Height != want {
		return nil, protocol.Errorf(protocol.ErrLightHeight, "header height %d, want %d", h.Height, want)
	}
	if err := sh.ValidateBasic(trusted.ChainID); err != nil {
		return nil, protocol.Errorf(protocol.ErrLightHeader, "header %d: %v", h.Height, err)
	}
	// Only the hash: the trusted block ID's part-set header came with the
	// previous commit, and the header hash does not cover it. Comparing it
	// would let a commit that differs only there (which validators could
	// sign next to the canonical one) wedge pRuntime on a chain whose next
	// header names the canonical part-set header. CometBFT's light client
	// also checks only what the hash commits to.
	if !bytes.Equal(h.LastBlockID.Hash, trusted.BlockID.Hash) {
		return nil, protocol.Errorf(protocol.ErrLightLastBlockID, "header %d: last block %X, trusted %X", h.Height, h.LastBlockID.Hash, trusted.BlockID.Hash)
	}
	if !bytes.Equal(h.ValidatorsHash, trusted.nextHash) {
		return nil, protocol.Errorf(protocol.ErrLightValidatorsHash, "header %d: validators %X, trusted next %X", h.Height, h.ValidatorsHash, trusted.nextHash)
	}
	// Block 1 carries the genesis time; every later block is strictly later.
	if !(h.Time.After(trusted.Time) || (trusted.Height == 0 && h.Time.Equal(trusted.Time))) {
		return nil, protocol.Errorf(protocol.ErrLightTime, "header %d: time %s, trusted %s", h.Height, h.Time.Format(time.RFC3339Nano), trusted.Time.Format(time.RFC3339Nano))
	}
	next := trusted.NextValidators
	switch {
	case nextVals != nil:
		if err := nextVals.ValidateBasic(); err != nil {
			return nil, protocol.Errorf(protocol.ErrLightNextValidators, "header %d: %v", h.Height, err)
		}
		if got := nextVals.Hash(); !bytes.Equal(got, h.NextValidatorsHash) {
			return nil, protocol.Errorf(protocol.ErrLightNextValidators, "header %d: supplied next set hashes to %X, header says %X", h.Height, got, h.NextValidatorsHash)
		}
		next = nextVals
	case !bytes.Equal(h.NextValidatorsHash, h.ValidatorsHash):
		return nil, protocol.Errorf(protocol.ErrLightNextValidators, "header %d changes the validator set to %X but no next set was supplied", h.Height, h.NextValidatorsHash)
	}
	if err := trusted.NextValidators.VerifyCommitLight(trusted.ChainID, sh.Commit.BlockID, h.Height, sh.Commit); err != nil {
		return nil, protocol.Errorf(protocol.ErrLightCommit, "header %d: %v", h.Height, err)
	}
	return newState(trusted.ChainID, h.Height, sh.Commit.BlockID, h.Time, h.AppHash, next), nil
}

// Restore rebuilds a trusted state saved in a checkpoint. The checkpoint is
// sealed by this enclave, so its content is trusted as much as memory.
func Restore(chainID string, height int64, id types.BlockID, t time.Time, appHash []byte, next *types.ValidatorSet) *State {
	return newState(chainID, height, id, t, appHash, next)
}
