package sdk

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/protocol"
)

// TrustRoot is what a Client believes without proof — the chain's id, the
// hash of its genesis document and the genesis validator set — together
// with the newest header it has verified from there. Every header the
// client accepts later is verified from it (see docs/sdk.md), so a node
// can no longer choose the validators that "prove" its answers.
//
// A root comes from a genesis document the user trusts (GenesisTrust), or
// is pinned at first use from the node's own genesis (Dial without a
// root). Save Client.Trust after use and pass it back next time: the
// saved header is both where verification resumes and the height below
// which no answer is accepted any more.
type TrustRoot struct {
	ChainID     string
	GenesisHash []byte
	GenesisTime time.Time
	// Header is the newest verified header with its commit; nil before
	// the first.
	Header *types.SignedHeader
	// Validators signed Header; before the first header, they are the
	// genesis validators, which sign header 1.
	Validators *types.ValidatorSet
}

// Height is the height of the newest verified header (0: none yet).
func (t *TrustRoot) Height() int64 {
	if t.Header == nil {
		return 0
	}
	return t.Header.Height
}

// Time is the time of the newest verified header, or the genesis time.
func (t *TrustRoot) Time() time.Time {
	if t.Header == nil {
		return t.GenesisTime
	}
	return t.Header.Time
}

// GenesisTrust makes a trust root of a genesis document: its chain id, its
// hash (protocol.GenesisHash, the one pRuntime binds its attestations to)
// and its validators.
func GenesisTrust(genesisJSON []byte) (*TrustRoot, error) {
	if err := checkGenesisKeys(genesisJSON); err != nil {
		return nil, err
	}
	doc, err := protocol.ParseGenesisDoc(genesisJSON)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrBadTrustRoot, "genesis: %v", err)
	}
	if doc.InitialHeight != 1 {
		return nil, protocol.Errorf(protocol.ErrBadTrustRoot, "genesis initial height %d unsupported", doc.InitialHeight)
	}
	hash, err := protocol.GenesisHash(doc)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrBadTrustRoot, "genesis: %v", err)
	}
	vals := make([]*types.Validator, len(doc.Validators))
	for i, v := range doc.Validators {
		vals[i] = &types.Validator{Address: v.Address, PubKey: v.PubKey, VotingPower: v.Power}
	}
	set, err := validatorSet(vals)
	if err != nil {
		return nil, protocol.Errorf(protocol.ErrBadTrustRoot, "genesis validators: %v", err)
	}
	return &TrustRoot{ChainID: doc.ChainID, GenesisHash: hash, GenesisTime: doc.GenesisTime, Validators: set}, nil
}

// checkGenesisKeys refuses a genesis document whose validators are not
// all ed25519 keys of the right size, before CometBFT's validation, which
// panics on a key of the wrong size.
func checkGenesisKeys(genesisJSON []byte) error {
	var doc struct {
		Validators []struct {
			PubKey *struct {
				Type  string `json:"type"`
				Value []byte `json:"value"`
			} `json:"pub_key"`
		} `json:"validators"`
	}
	if err := json.Unmarshal(genesisJSON, &doc); err != nil {
		return protocol.Errorf(protocol.ErrBadTrustRoot, "genesis: %v", err)
	}
	for i, v := range doc.Validators {
		if v.PubKey == nil || v.PubKey.Type != cmted25519.PubKeyName || len(v.PubKey.Value) != cmted25519.PubKeySize {
			return protocol.Errorf(protocol.ErrBadTrustRoot, "genesis validator %d: not an ed25519 key of %d bytes", i, cmted25519.PubKeySize)
		}
	}
	return nil
}

// trustJSON is a TrustRoot's file form: CometBFT's JSON for the header and
// the validators, so that an operator can read it.
type trustJSON struct {
	ChainID     string          `json:"chain_id"`
	GenesisHash string          `json:"genesis_hash"`
	GenesisTime time.Time       `json:"genesis_time"`
	Height      int64           `json:"height"`
	Header      json.RawMessage `json:"signed_header,omitempty"`
	Validators  json.RawMessage `json:"validators"`
}

// MarshalJSON writes the root in the form UnmarshalJSON reads.
func (t *TrustRoot) MarshalJSON() ([]byte, error) {
	vals, err := cmtjson.Marshal(t.Validators.Validators)
	if err != nil {
		return nil, err
	}
	f := trustJSON{ChainID: t.ChainID, GenesisHash: hex.EncodeToString(t.GenesisHash), GenesisTime: t.GenesisTime, Height: t.Height(), Validators: vals}
	if t.Header != nil {
		if f.Header, err = cmtjson.Marshal(t.Header); err != nil {
			return nil, err
		}
	}
	return json.MarshalIndent(&f, "", "  ")
}

// UnmarshalJSON reads a saved root and checks it is whole: the validators
// form a valid set, and a header is well formed, of the root's chain,
// signed by them.
func (t *TrustRoot) UnmarshalJSON(b []byte) error {
	var f trustJSON
	if err := json.Unmarshal(b, &f); err != nil {
		return protocol.Errorf(protocol.ErrBadTrustRoot, "%v", err)
	}
	hash, err := hex.DecodeString(f.GenesisHash)
	if err != nil || len(hash) != 32 {
		return protocol.Errorf(protocol.ErrBadTrustRoot, "genesis hash %q is not 32 hex bytes", f.GenesisHash)
	}
	var vals []*types.Validator
	if err := cmtjson.Unmarshal(f.Validators, &vals); err != nil {
		return protocol.Errorf(protocol.ErrBadTrustRoot, "validators: %v", err)
	}
	r := TrustRoot{ChainID: f.ChainID, GenesisHash: hash, GenesisTime: f.GenesisTime}
	if r.Validators, err = validatorSet(vals); err != nil {
		return protocol.Errorf(protocol.ErrBadTrustRoot, "validators: %v", err)
	}
	if len(f.Header) > 0 {
		r.Header = new(types.SignedHeader)
		if err := cmtjson.Unmarshal(f.Header, r.Header); err != nil {
			return protocol.Errorf(protocol.ErrBadTrustRoot, "header: %v", err)
		}
	}
	if err := r.check(); err != nil {
		return err
	}
	if r.Height() != f.Height {
		return protocol.Errorf(protocol.ErrBadTrustRoot, "height %d, its header is at %d", f.Height, r.Height())
	}
	*t = r
	return nil
}

// check verifies that a root is whole (see UnmarshalJSON).
func (t *TrustRoot) check() error {
	switch {
	case t.ChainID == "":
		return protocol.Errorf(protocol.ErrBadTrustRoot, "no chain id")
	case len(t.GenesisHash) != 32:
		return protocol.Errorf(protocol.ErrBadTrustRoot, "genesis hash of %d bytes", len(t.GenesisHash))
	case t.Validators == nil:
		return protocol.Errorf(protocol.ErrBadTrustRoot, "no validators")
	case t.Header == nil:
		return nil
	}
	sh := t.Header
	if sh.Header == nil || sh.Commit == nil {
		return protocol.Errorf(protocol.ErrBadTrustRoot, "header without its commit")
	}
	if err := sh.ValidateBasic(t.ChainID); err != nil {
		return protocol.Errorf(protocol.ErrBadTrustRoot, "header %d: %v", sh.Height, err)
	}
	if !bytes.Equal(t.Validators.Hash(), sh.ValidatorsHash) {
		return protocol.Errorf(protocol.ErrBadTrustRoot, "header %d is not signed by the saved validators", sh.Height)
	}
	if err := t.Validators.VerifyCommitLight(t.ChainID, sh.Commit.BlockID, sh.Height, sh.Commit); err != nil {
		return protocol.Errorf(protocol.ErrBadTrustRoot, "header %d: %v", sh.Height, err)
	}
	return nil
}

// maxValidators bounds a validator set a node may describe: CometBFT's own
// limit on the votes of a commit.
const maxValidators = types.MaxVotesCount

// validatorSet builds a validator set from validators a node or a file
// described, checking first everything CometBFT's constructor would panic
// on: a missing or mismatched key, a power that is not positive, a total
// above CometBFT's limit, a duplicate, too many.
func validatorSet(vals []*types.Validator) (*types.ValidatorSet, error) {
	if len(vals) == 0 || len(vals) > maxValidators {
		return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "validator set of %d validators (want 1 to %d)", len(vals), maxValidators)
	}
	seen := make(map[string]bool, len(vals))
	var total int64
	copies := make([]*types.Validator, len(vals))
	for i, v := range vals {
		if v == nil {
			return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "validator %d is missing", i)
		}
		// The chain admits only ed25519 validators (governance checks
		// updates); CometBFT panics on a key of the wrong size.
		if k, ok := v.PubKey.(cmted25519.PubKey); !ok || len(k) != cmted25519.PubKeySize {
			return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "validator %d: not an ed25519 key of %d bytes", i, cmted25519.PubKeySize)
		}
		if err := v.ValidateBasic(); err != nil {
			return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "validator %d: %v", i, err)
		}
		if v.VotingPower <= 0 || v.VotingPower > types.MaxTotalVotingPower-total {
			return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "validator %d: power %d (the set's total may not exceed %d)", i, v.VotingPower, types.MaxTotalVotingPower)
		}
		total += v.VotingPower
		if seen[string(v.Address)] {
			return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "validator %X appears twice", []byte(v.Address))
		}
		seen[string(v.Address)] = true
		copies[i] = types.NewValidator(v.PubKey, v.VotingPower)
	}
	return types.NewValidatorSet(copies), nil
}
