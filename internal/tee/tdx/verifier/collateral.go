package verifier

import (
	"sync"
	"time"

	"github.com/google/go-tdx-guest/verify/trust"

	"github.com/phala-go/phala/protocol"
)

// FetchCollateral obtains the Intel PCS collateral of a quote through
// getter (trust.DefaultHTTPSGetter() for Intel's service) and returns it
// recorded, ready to travel with the attestation, together with the verdict
// of verifying the quote with it at now: a caller should attach collateral
// only when that verdict is nil. It runs outside the enclave (in pherry):
// collateral is signed by Intel.
func FetchCollateral(quote []byte, getter trust.HTTPSGetter, now time.Time) ([]protocol.CollateralEntry, error) {
	q, err := Parse(quote)
	if err != nil {
		return nil, err
	}
	rec := &recorder{inner: getter}
	opts := verifyOptions(now, rec)
	opts.GetCollateral, opts.CheckRevocations = true, true
	if err := verifyQuote(q, opts); err != nil {
		return rec.entries, classify(err, true)
	}
	return rec.entries, nil
}

// recorder passes requests to a getter and keeps the answers.
type recorder struct {
	inner   trust.HTTPSGetter
	mu      sync.Mutex
	entries []protocol.CollateralEntry
}

// Get implements trust.HTTPSGetter.
func (r *recorder) Get(url string) (map[string][]string, []byte, error) {
	h, b, err := r.inner.Get(url)
	if err == nil {
		r.mu.Lock()
		r.entries = append(r.entries, protocol.CollateralEntry{URL: url, Header: h, Body: b})
		r.mu.Unlock()
	}
	return h, b, err
}
