package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/protocol"
)

// The SDK's light client. From the trust root it verifies headers forward
// with CometBFT's own light verification: skipping (a header is trusted if
// validators holding more than 1/3 of the power of the last trusted set
// signed it, and more than 2/3 of its own set did; bisecting when the set
// changed too much) while the last trusted header is younger than the
// trusting period, and sequentially (each header signed by more than 2/3
// of the set its predecessor named), which needs no clock, once it is
// older. Headers below the newest verified one are verified backwards
// through the hash chain (each header's hash is in its successor).

// Defaults of Options.
const (
	// DefaultTrustingPeriod is how long after a verified header the client
	// assumes that more than 1/3 of its validators' power stays honest, so
	// that it may skip to a later header they signed. The chain has no
	// unbonding period to derive it from: a week, as operators announce
	// validator changes well ahead. Past it, verification is sequential.
	DefaultTrustingPeriod = 7 * 24 * time.Hour
	// DefaultMaxClockDrift is how far in the future of the local clock a
	// header's time may be (CometBFT's light client default).
	DefaultMaxClockDrift = 10 * time.Second
	// DefaultMaxHeaderAge bounds how old the newest header a node shows may
	// be: a node that stops at an old height (to show state from before a
	// revocation or a rotation) is refused once its header is that old,
	// even by a client that has never seen a later one. The chain makes a
	// block every few seconds, empty or not.
	DefaultMaxHeaderAge = 10 * time.Minute
)

// maxRecent bounds the verified headers a client remembers for backward
// verification; past it, it forgets all but the newest.
const maxRecent = 1024

// lightBlock is a header with its commit and the validator set that signed
// it, as a node served them.
type lightBlock struct {
	sh   *types.SignedHeader
	vals *types.ValidatorSet
}

// fetchLightBlock asks the node for header h, its commit and its
// validators, and checks their shape (nothing is trusted yet).
func (c *Client) fetchLightBlock(ctx context.Context, h int64) (*lightBlock, error) {
	com, err := c.rpc.Commit(ctx, &h)
	if err != nil {
		return nil, fmt.Errorf("sdk: commit %d: %w", h, err)
	}
	sh := com.SignedHeader
	switch {
	case sh.Header == nil || sh.Commit == nil:
		return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "header %d: without its header or commit", h)
	case sh.Height != h:
		return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "asked header %d, got %d", h, sh.Height)
	}
	vals, err := ValidatorSet(ctx, c.rpc.HTTP, h)
	if err != nil {
		return nil, err
	}
	return &lightBlock{sh: &sh, vals: vals}, nil
}

// trusted is the newest verified light block (nil before header 1).
// Callers hold c.mu.
func (c *Client) trusted() *lightBlock {
	if c.trust.Header == nil {
		return nil
	}
	return &lightBlock{sh: c.trust.Header, vals: c.trust.Validators}
}

// advance verifies header target (and what leads to it) from the trust
// root and makes it the newest trusted header. Progress made before an
// error is kept: it is verified. Callers hold c.mu.
func (c *Client) advance(ctx context.Context, target int64) error {
	if target <= c.trust.Height() {
		return nil
	}
	if c.trust.Header == nil {
		first, err := c.verifyFirst(ctx)
		if err != nil {
			return err
		}
		c.setTrusted(first)
	}
	for c.trust.Height() < target {
		now := c.o.Now()
		t := c.trusted()
		if light.HeaderExpired(t.sh, c.o.TrustingPeriod, now) {
			next, err := c.fetchLightBlock(ctx, t.sh.Height+1)
			if err != nil {
				return err
			}
			// Sequential verification needs no trusting period: pass one
			// that has not run out.
			unexpired := now.Sub(t.sh.Time) + time.Hour
			if err := light.VerifyAdjacent(t.sh, next.sh, next.vals, unexpired, now, c.o.MaxClockDrift); err != nil {
				return protocol.Errorf(protocol.ErrUntrustedHeader, "header %d: %v", next.sh.Height, err)
			}
			c.setTrusted(next)
			continue
		}
		if err := c.verifySkipping(ctx, target, now); err != nil {
			return err
		}
	}
	return nil
}

// verifyFirst verifies header 1 against the genesis validators.
func (c *Client) verifyFirst(ctx context.Context) (*lightBlock, error) {
	lb, err := c.fetchLightBlock(ctx, 1)
	if err != nil {
		return nil, err
	}
	sh, genesis := lb.sh, c.trust.Validators
	if err := sh.ValidateBasic(c.trust.ChainID); err != nil {
		return nil, protocol.Errorf(protocol.ErrUntrustedHeader, "header 1: %v", err)
	}
	if !bytes.Equal(sh.ValidatorsHash, genesis.Hash()) {
		return nil, protocol.Errorf(protocol.ErrUntrustedHeader, "header 1: validators %X, genesis has %X", sh.ValidatorsHash, genesis.Hash())
	}
	if sh.Time.Before(c.trust.GenesisTime) {
		return nil, protocol.Errorf(protocol.ErrUntrustedHeader, "header 1: time %s before the genesis time", sh.Time)
	}
	if err := genesis.VerifyCommitLight(c.trust.ChainID, sh.Commit.BlockID, 1, sh.Commit); err != nil {
		return nil, protocol.Errorf(protocol.ErrUntrustedHeader, "header 1: %v", err)
	}
	return &lightBlock{sh: sh, vals: genesis}, nil
}

// verifySkipping verifies target from the trusted header by skipping,
// bisecting where the validator set changed too much to skip
// (CometBFT's light client algorithm). Callers hold c.mu.
func (c *Client) verifySkipping(ctx context.Context, target int64, now time.Time) error {
	top, err := c.fetchLightBlock(ctx, target)
	if err != nil {
		return err
	}
	stack := []*lightBlock{top}
	for len(stack) > 0 {
		t, cand := c.trusted(), stack[len(stack)-1]
		err := light.Verify(t.sh, t.vals, cand.sh, cand.vals, c.o.TrustingPeriod, now, c.o.MaxClockDrift, light.DefaultTrustLevel)
		var cannot light.ErrNewValSetCantBeTrusted
		switch {
		case err == nil:
			c.setTrusted(cand)
			stack = stack[:len(stack)-1]
		case errors.As(err, &cannot):
			// Not adjacent (adjacent verification never says this), so
			// the pivot lies strictly between.
			pivot, err := c.fetchLightBlock(ctx, t.sh.Height+(cand.sh.Height-t.sh.Height)/2)
			if err != nil {
				return err
			}
			stack = append(stack, pivot)
		default:
			return protocol.Errorf(protocol.ErrUntrustedHeader, "header %d from trusted %d: %v", cand.sh.Height, t.sh.Height, err)
		}
	}
	return nil
}

// setTrusted makes lb the newest trusted header. Callers hold c.mu.
func (c *Client) setTrusted(lb *lightBlock) {
	c.trust.Header, c.trust.Validators = lb.sh, lb.vals
	c.remember(lb.sh.Header)
}

// remember keeps a verified header for backward verification.
func (c *Client) remember(h *types.Header) {
	if len(c.recent) >= maxRecent {
		clear(c.recent)
	}
	c.recent[h.Height] = h
}

// header returns verified header h, which is at most the newest verified
// one: from memory, or verified backwards from the nearest verified header
// above it. Callers hold c.mu.
func (c *Client) header(ctx context.Context, h int64) (*types.Header, error) {
	if hd, ok := c.recent[h]; ok {
		return hd, nil
	}
	tip := c.trust.Height()
	if h < 1 || h > tip {
		return nil, fmt.Errorf("sdk: header %d is not below the newest verified %d", h, tip)
	}
	above := c.trust.Header.Header
	for k, hd := range c.recent {
		if k > h && k < above.Height {
			above = hd
		}
	}
	for above.Height > h {
		lo := max(h, above.Height-20) // the node's page of block metas
		res, err := c.rpc.BlockchainInfo(ctx, lo, above.Height-1)
		if err != nil {
			return nil, fmt.Errorf("sdk: headers %d..%d: %w", lo, above.Height-1, err)
		}
		metas := res.BlockMetas // newest first
		if len(metas) == 0 {
			return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "no headers %d..%d", lo, above.Height-1)
		}
		for _, m := range metas {
			if m == nil || m.Header.Height != above.Height-1 {
				return nil, protocol.Errorf(protocol.ErrMalformedAnswer, "headers %d..%d: want header %d next", lo, above.Height-1, above.Height-1)
			}
			hd := m.Header
			if err := light.VerifyBackwards(&hd, above); err != nil {
				return nil, protocol.Errorf(protocol.ErrUntrustedHeader, "header %d: %v", hd.Height, err)
			}
			c.remember(&hd)
			above = &hd
			if above.Height == h {
				break
			}
		}
	}
	return above, nil
}
