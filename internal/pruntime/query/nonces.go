package query

import (
	"sync"

	"github.com/phala-go/phala/protocol"
)

// nonces is the replay cache: the nonce of every query answered, kept
// until the query's expiry height has passed. A nonce is random and the
// request's signer is in its header, so the nonce alone names a request.
//
// Entries are forgotten by expiry height, in buckets, once per new
// height; floor records how far that went. A query whose expiry is below
// floor is refused as expired whatever snapshot it read — its nonce may
// have been forgotten already, and a query that read an older snapshot
// (the host controls scheduling) must not pass as new.
type nonces struct {
	mu       sync.Mutex
	max      int
	expiry   map[string]int64   // nonce -> expiry height
	byExpiry map[int64][]string // expiry height -> nonces
	floor    int64              // every nonce of a query expiring below it is forgotten
}

func newNonces(max int) *nonces {
	return &nonces{max: max, expiry: map[string]int64{}, byExpiry: map[int64][]string{}}
}

// seen reports whether a query with nonce was answered (a cheap check
// before the work of opening a request; claim decides).
func (c *nonces) seen(nonce []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.expiry[string(nonce)]
	return ok
}

// claim records nonce for a query expiring at expiry, read at synced
// height height, or refuses it: a nonce seen before (ErrQueryReplay), an
// expiry below the floor (ErrQueryExpired) or a full cache (ErrQueryBusy).
// Only one of several identical requests racing can claim.
func (c *nonces) claim(nonce []byte, expiry, height int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forget(height)
	switch _, ok := c.expiry[string(nonce)]; {
	case ok:
		return protocol.Errorf(protocol.ErrQueryReplay, "nonce %x", nonce)
	case expiry < c.floor:
		return protocol.Errorf(protocol.ErrQueryExpired, "expired at %d; the worker has passed %d", expiry, c.floor)
	case len(c.expiry) >= c.max:
		return protocol.Errorf(protocol.ErrQueryBusy, "%d unexpired nonces held", len(c.expiry))
	}
	c.expiry[string(nonce)] = expiry
	c.byExpiry[expiry] = append(c.byExpiry[expiry], string(nonce))
	return nil
}

// forget drops the nonces of queries expiring below height and raises the
// floor to it. It walks the buckets once per new height: expiries lie
// within MaxQueryWindow of the height they were claimed at, so there are
// at most that many. Caller holds mu.
func (c *nonces) forget(height int64) {
	if height <= c.floor {
		return
	}
	for e, ns := range c.byExpiry {
		if e < height {
			for _, n := range ns {
				delete(c.expiry, n)
			}
			delete(c.byExpiry, e)
		}
	}
	c.floor = height
}

// len is how many nonces are held.
func (c *nonces) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expiry)
}
