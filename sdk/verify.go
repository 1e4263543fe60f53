package sdk

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/protocol"
)

// VerifiedTip verifies the node's newest header from the trust root and
// returns its height, never less than the newest the client verified
// before. A node whose newest header is older than Options.MaxHeaderAge is
// refused (protocol.ErrStaleHeader).
func (c *Client) VerifiedTip(ctx context.Context) (int64, error) {
	sh, err := c.verifiedTip(ctx)
	if err != nil {
		return 0, err
	}
	return sh.Height, nil
}

// verifiedTip advances the trusted header to the node's newest and
// returns it. A node that claims an older tip than one already verified
// is answered from the newer one: the claim is not believed.
func (c *Client) verifiedTip(ctx context.Context) (*types.SignedHeader, error) {
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("sdk: status: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.advance(ctx, st.SyncInfo.LatestBlockHeight); err != nil {
		return nil, err
	}
	sh := c.trust.Header
	if sh == nil {
		return nil, protocol.Errorf(protocol.ErrBelowMinHeight, "the node has no block yet")
	}
	if age := c.o.Now().Sub(sh.Time); c.o.MaxHeaderAge > 0 && age > c.o.MaxHeaderAge {
		return nil, protocol.Errorf(protocol.ErrStaleHeader, "newest header %d is from %s, %s ago (the most the client accepts is %s): the node is behind, or the chain has stopped",
			sh.Height, sh.Time.UTC().Format(time.RFC3339), age.Round(time.Second), c.o.MaxHeaderAge)
	}
	return sh, nil
}

// stateHeader returns the newest verified header, once it proves a state
// at least min (and Options.MinHeight): header H carries the app hash of
// the state after block H-1. It waits for the node to get there.
func (c *Client) stateHeader(ctx context.Context, min int64) (*types.SignedHeader, error) {
	min = max(min, c.o.MinHeight, 1)
	for {
		sh, err := c.verifiedTip(ctx)
		if err != nil {
			return nil, err
		}
		if sh.Height-1 >= min {
			return sh, nil
		}
		select {
		case <-ctx.Done():
			return nil, protocol.Errorf(protocol.ErrBelowMinHeight, "waiting for the state of block %d, the node is at %d: %v", min, sh.Height-1, ctx.Err())
		case <-time.After(c.poll):
		}
	}
}

type queryAnswer struct {
	value  []byte
	height int64
	ops    *cmtcrypto.ProofOps
}

// query runs an ABCI query and maps an application error to its protocol
// error.
func (c *Client) query(ctx context.Context, path string, height int64) (*queryAnswer, error) {
	res, err := c.rpc.ABCIQueryWithOptions(ctx, path, nil, rpcclient.ABCIQueryOptions{Height: height, Prove: true})
	if err != nil {
		return nil, fmt.Errorf("sdk: query %s: %w", path, err)
	}
	r := res.Response
	if r.Code != 0 {
		return nil, protocol.FromWire(r.Codespace, r.Code, r.Log)
	}
	return &queryAnswer{value: r.Value, height: r.Height, ops: r.ProofOps}, nil
}

// maxAhead is how far beyond the tip it showed a node may answer from
// (it may commit blocks between the two calls).
const maxAhead = 2

// verifiedQuery answers a proven path from the node's latest state, and
// checks the proof against the key the protocol assigns the path and the
// app hash of a header verified from the trust root: neither the key nor
// the height the node names is trusted, or it could answer with another
// record's proof, or an old one. The state must be at least the one the
// newest verified header proves (and Options.MinHeight); a state after
// it waits for the header that proves it, as the node's latest does.
func (c *Client) verifiedQuery(ctx context.Context, path string) (*queryAnswer, error) {
	key, err := protocol.StateKey(path)
	if err != nil {
		return nil, fmt.Errorf("sdk: %s: %w", path, err)
	}
	sh, err := c.stateHeader(ctx, 1)
	if err != nil {
		return nil, err
	}
	q, err := c.query(ctx, path, 0)
	if err != nil {
		return nil, err
	}
	switch floor := sh.Height - 1; {
	case q.height < floor:
		return nil, protocol.Errorf(protocol.ErrStaleAnswer, "%s: the node answered from the state of block %d; the client has verified block %d's", path, q.height, floor)
	case q.height > sh.Height+maxAhead:
		return nil, protocol.Errorf(protocol.ErrStaleAnswer, "%s: the node answered from the state of block %d, ahead of its own tip %d", path, q.height, sh.Height)
	}
	appHash, err := c.VerifiedAppHash(ctx, q.height)
	if err != nil {
		return nil, err
	}
	if err := protocol.VerifyState(key, q.value, q.ops, appHash); err != nil {
		return nil, fmt.Errorf("sdk: %s at %d: %w", path, q.height, err)
	}
	return q, nil
}

// BlockMessages returns block h's message list, verified against the app
// hash in header h+1.
func (c *Client) BlockMessages(ctx context.Context, h int64) (*protocol.BlockMessages, []*protocol.Message, error) {
	bm, msgs, err := c.RawBlockMessages(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	appHash, err := c.VerifiedAppHash(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	if got := bm.AppHash(); !bytes.Equal(got, appHash) {
		return nil, nil, protocol.Errorf(protocol.ErrProof, "block %d: messages give app hash %X, header %d says %X", h, got, h+1, appHash)
	}
	return bm, msgs, nil
}

// RawBlockMessages returns block h's message list as the node serves it,
// decoded but not verified.
func (c *Client) RawBlockMessages(ctx context.Context, h int64) (*protocol.BlockMessages, []*protocol.Message, error) {
	q, err := c.query(ctx, protocol.QueryMessages+strconv.FormatInt(h, 10), 0)
	if err != nil {
		return nil, nil, err
	}
	return protocol.DecodeBlockMessages(q.value)
}

// VerifiedAppHash returns the app hash of block h, read from verified
// header h+1. It waits for block h+1 if it does not exist yet.
func (c *Client) VerifiedAppHash(ctx context.Context, h int64) ([]byte, error) {
	hd, err := c.VerifiedHeader(ctx, h+1)
	if err != nil {
		return nil, err
	}
	return hd.AppHash, nil
}

// VerifiedHeader returns header h, verified from the trust root: forward
// if it is above the newest verified header, through the hash chain if it
// is below. It waits for block h if it does not exist yet.
func (c *Client) VerifiedHeader(ctx context.Context, h int64) (*types.Header, error) {
	if h < 1 {
		return nil, fmt.Errorf("sdk: no header %d", h)
	}
	if _, err := c.waitTip(ctx, h); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.header(ctx, h)
}

// waitTip waits until the newest verified header is at least h.
func (c *Client) waitTip(ctx context.Context, h int64) (*types.SignedHeader, error) {
	for {
		sh, err := c.verifiedTip(ctx)
		if err != nil || sh.Height >= h {
			return sh, err
		}
		select {
		case <-ctx.Done():
			return nil, protocol.Errorf(protocol.ErrBelowMinHeight, "waiting for header %d, the node is at %d: %v", h, sh.Height, ctx.Err())
		case <-time.After(c.poll):
		}
	}
}

// ValidatorSet fetches the complete validator set of height h from a node.
// Nothing is trusted: the set is checked for what would make CometBFT
// panic (see validatorSet), and at most maxValidators are read however
// many the node claims.
func ValidatorSet(ctx context.Context, rpc rpcclient.SignClient, h int64) (*types.ValidatorSet, error) {
	var all []*types.Validator
	perPage := 100
	for page := 1; ; page++ {
		p := page
		res, err := rpc.Validators(ctx, &h, &p, &perPage)
		if err != nil {
			return nil, fmt.Errorf("sdk: validators %d: %w", h, err)
		}
		all = append(all, res.Validators...)
		if len(all) >= res.Total || len(res.Validators) == 0 {
			break
		}
		if len(all) > maxValidators {
			return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "validators %d: more than %d", h, maxValidators)
		}
	}
	vs, err := validatorSet(all)
	if err != nil {
		return nil, fmt.Errorf("sdk: validators %d: %w", h, err)
	}
	return vs, nil
}
