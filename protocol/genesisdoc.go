package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"
)

// ParseGenesisDoc reads a CometBFT genesis document, validates it and fills
// its defaults, as a node does at start.
func ParseGenesisDoc(raw []byte) (*types.GenesisDoc, error) {
	doc, err := types.GenesisDocFromJSON(raw)
	if err != nil {
		return nil, Errorf(ErrBadGenesis, "%v", err)
	}
	return doc, nil
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
