package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	cryptoenc "github.com/cometbft/cometbft/crypto/encoding"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"
)

// ParseGenesisDoc reads a CometBFT genesis document, validates it and fills
// its defaults, as a node does at start.
//
// It is the decoder of pRuntime's /v1/init body, so it never panics:
// CometBFT's own validation dereferences a validator's missing public key,
// and building a validator set panics on a total voting power over
// types.MaxTotalVotingPower or a repeated validator. Those are checked
// here first: every validator has a key, a positive power and a unique
// address, there are at most types.MaxVotesCount of them, and their total
// power is within the limit.
func ParseGenesisDoc(raw []byte) (*types.GenesisDoc, error) {
	var doc types.GenesisDoc
	if err := cmtjson.Unmarshal(raw, &doc); err != nil {
		return nil, Errorf(ErrBadGenesis, "%v", err)
	}
	if err := checkGenesisValidators(doc.Validators); err != nil {
		return nil, err
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, Errorf(ErrBadGenesis, "%v", err)
	}
	return &doc, nil
}

func checkGenesisValidators(vals []types.GenesisValidator) error {
	if len(vals) > types.MaxVotesCount {
		return Errorf(ErrBadGenesis, "%d validators, at most %d", len(vals), types.MaxVotesCount)
	}
	seen := make(map[string]bool, len(vals))
	var total int64
	for i, v := range vals {
		if v.PubKey == nil {
			return Errorf(ErrBadGenesis, "validator %d (%q) has no public key", i, v.Name)
		}
		// Address() panics on a key of the wrong length.
		if _, err := cryptoenc.PubKeyFromTypeAndBytes(v.PubKey.Type(), v.PubKey.Bytes()); err != nil {
			return Errorf(ErrBadGenesis, "validator %d (%q): %v", i, v.Name, err)
		}
		if v.Power <= 0 || v.Power > types.MaxTotalVotingPower-total {
			return Errorf(ErrBadGenesis, "validator %d (%q): power %d with %d before it; each must be positive and the total at most %d", i, v.Name, v.Power, total, types.MaxTotalVotingPower)
		}
		total += v.Power
		addr := string(v.PubKey.Address())
		if seen[addr] {
			return Errorf(ErrBadGenesis, "validator %d (%q): key repeated", i, v.Name)
		}
		seen[addr] = true
	}
	return nil
}

// GenesisHash identifies a genesis document independently of how its JSON
// was formatted: SHA-256 of CometBFT's JSON encoding of the validated
// document, with app_state compacted. A node's genesis file and the same
// document fetched over RPC have the same hash. pRuntime binds its
// attestations to it, and a trust root compiled into pRuntime pins it.
func GenesisHash(doc *types.GenesisDoc) ([]byte, error) {
	norm := *doc
	if len(doc.AppState) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, doc.AppState); err != nil {
			return nil, Errorf(ErrBadGenesis, "app_state: %v", err)
		}
		norm.AppState = buf.Bytes()
	}
	b, err := cmtjson.Marshal(&norm)
	if err != nil {
		return nil, fmt.Errorf("genesis hash: %w", err)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}
