package app

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
	"github.com/cosmos/iavl"

	"github.com/phala-go/phala/internal/chain/governance"
	"github.com/phala-go/phala/internal/chain/keys"
	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/internal/chain/store"
	"github.com/phala-go/phala/protocol"
)

// Query implements abci.Application. State values come with an ICS-23 proof
// to stateRoot(H) and the block's messagesRoot(H), from which the client
// rebuilds AppHash(H) and checks it against header H+1. Message lists need
// no proof: they are themselves half of that app hash.
func (a *App) Query(_ context.Context, req *abci.QueryRequest) (resp *abci.QueryResponse, _ error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer recoverInto(func(err error) { resp = queryError(err) })

	switch {
	case strings.HasPrefix(req.Path, protocol.QueryMessages):
		h, err := strconv.ParseInt(strings.TrimPrefix(req.Path, protocol.QueryMessages), 10, 64)
		if err != nil || h < 0 {
			return queryError(protocol.Errorf(protocol.ErrBadQuery, "%q: height must be a non-negative integer", req.Path)), nil
		}
		if h > a.height {
			return queryError(protocol.Errorf(protocol.ErrHeightUnavailable, "height %d, last committed %d", h, a.height)), nil
		}
		rec, err := a.blocks.get(h)
		if err != nil {
			return queryError(err), nil
		}
		return &abci.QueryResponse{Value: protocol.MustMarshal(rec.messages()), Height: h}, nil
	case req.Path == protocol.QueryEpoch:
		// Assembled from several records, so answered without a proof.
		snap := store.Snapshot{T: a.latest()}
		return &abci.QueryResponse{Value: protocol.MustMarshal(keys.Info(snap, governance.Params(snap))), Height: a.height}, nil
	case strings.HasPrefix(req.Path, protocol.QueryCluster):
		id, err := hex.DecodeString(strings.TrimPrefix(req.Path, protocol.QueryCluster))
		if err != nil || len(id) != 32 {
			return queryError(protocol.Errorf(protocol.ErrBadQuery, "%q: want a 32-byte hex cluster id", req.Path)), nil
		}
		c, ok := keys.Cluster(store.Snapshot{T: a.latest()}, id)
		if !ok {
			return queryError(protocol.Errorf(protocol.ErrUnknownCluster, "%x", id)), nil
		}
		return &abci.QueryResponse{Value: protocol.MustMarshal(&c), Height: a.height}, nil
	case req.Path == protocol.QueryWorkers:
		// A listing has no single proof; verify each record with its own
		// query when it matters.
		return &abci.QueryResponse{Value: protocol.MustMarshal(registry.Workers(store.Snapshot{T: a.latest()})), Height: a.height}, nil
	}
	// Every other path reads one record, at the key the protocol assigns
	// it: the key the client checks the proof against.
	key, err := protocol.StateKey(req.Path)
	if err != nil {
		return queryError(err), nil
	}
	return a.proveState(req.Height, key), nil
}

// proveState answers the value at key in the state after block height (0:
// the last committed block), with its existence or absence proof.
func (a *App) proveState(height int64, key []byte) *abci.QueryResponse {
	if height == 0 {
		height = a.height
	}
	if height < 1 || height > a.height || !a.tree.VersionExists(height) {
		return queryError(protocol.Errorf(protocol.ErrHeightUnavailable, "state at height %d (last committed %d)", height, a.height))
	}
	snap, err := a.tree.GetImmutable(height)
	if err != nil {
		return queryError(fmt.Errorf("state %d: %w", height, err))
	}
	// The value comes from walking the tree, as the proof's existence does
	// (GetProof asks Has), so that value and proof agree by construction.
	_, value, err := snap.GetWithIndex(key)
	if err != nil {
		return queryError(fmt.Errorf("state %d: %w", height, err))
	}
	proof, err := snap.GetProof(key)
	if err != nil {
		return queryError(fmt.Errorf("prove %x at %d: %w", key, height, err))
	}
	proofBytes, err := proof.Marshal()
	if err != nil {
		return queryError(err)
	}
	rec, err := a.blocks.get(height)
	if err != nil {
		return queryError(err)
	}
	return &abci.QueryResponse{
		Key:    key,
		Value:  value,
		Height: height,
		ProofOps: &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{
			{Type: protocol.ProofOpIAVL, Key: key, Data: proofBytes},
			{Type: protocol.ProofOpMessagesRoot, Data: protocol.MessagesRoot(rec.Messages)},
		}},
	}
}

// latest is the last committed state.
func (a *App) latest() *iavl.ImmutableTree {
	snap, err := a.tree.GetImmutable(a.height)
	if err != nil {
		store.Fail("latest state", err)
	}
	return snap
}

func queryError(err error) *abci.QueryResponse {
	space, code, log := wireError(err)
	return &abci.QueryResponse{Codespace: space, Code: code, Log: log}
}
