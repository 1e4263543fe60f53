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

// DecodeSignedHeader reads a protobuf SignedHeader.
func DecodeSignedHeader(b []byte) (*types.SignedHeader, error) {
	var pb cmtproto.SignedHeader
	if err := pb.Unmarshal(b); err != nil {
		return nil, protocol.Errorf(protocol.ErrLightDecode, "signed header: %v", err)
	}
	sh, err := types.SignedHeaderFromProto(&pb)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrLightDecode, "signed header: %v", err)
	}
	return sh, nil
}

// DecodeValidatorSet reads a protobuf ValidatorSet; empty input is nil.
func DecodeValidatorSet(b []byte) (*types.ValidatorSet, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var pb cmtproto.ValidatorSet
	if err := pb.Unmarshal(b); err != nil {
		return nil, protocol.Errorf(protocol.ErrLightDecode, "validator set: %v", err)
	}
	vs, err := types.ValidatorSetFromProto(&pb)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrLightDecode, "validator set: %v", err)
	}
	return vs, nil
}

// Verify checks header H+1 (sh) against the trusted state after header H,
// with nextVals the validator set sh names as next (nil if it is the set
// that signed sh). It returns the new trusted state; trusted is unchanged.
func Verify(trusted *State, sh *types.SignedHeader, nextVals *types.ValidatorSet) (*State, error) {
	if sh == nil || sh.Header == nil || sh.Commit == nil {
		return nil, protocol.Errorf(protocol.ErrLightHeader, "missing header or commit")
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
	if !h.LastBlockID.Equals(trusted.BlockID) {
		return nil, protocol.Errorf(protocol.ErrLightLastBlockID, "header %d: last block %v, trusted %v", h.Height, h.LastBlockID, trusted.BlockID)
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
