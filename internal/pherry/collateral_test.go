package pherry

import (
	"bytes"
	"errors"
	"testing"

	"github.com/phala-go/phala/internal/tee/tdx"
	"github.com/phala-go/phala/internal/tee/tdx/tdxtest"
	"github.com/phala-go/phala/protocol"
)

// pcs serves recorded collateral by URL, or fails every request.
type pcs []protocol.CollateralEntry

func (g pcs) Get(u string) (map[string][]string, []byte, error) {
	for _, e := range g {
		if e.URL == u {
			return e.Header, e.Body, nil
		}
	}
	return nil, nil, errors.New("PCS unreachable")
}

// TestRelayerDoesNotDowngradeARegistration is review finding 1's pherry
// part: when the collateral cannot be fetched, or does not verify (Intel
// rates the platform's TCB out of date), pherry used to log a warning and
// register at level quote. Now the registration fails, loudly, and nothing
// is attached.
func TestRelayerDoesNotDowngradeARegistration(t *testing.T) {
	p, err := tdxtest.NewPKI()
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.Quote(tdxtest.NewTD("b", bytes.Repeat([]byte{1}, 64)), tdxtest.IntelQE())
	if err != nil {
		t.Fatal(err)
	}
	stale := tdxtest.DefaultCollateral()
	stale.TCBStatus = "OutOfDate"
	outOfDate, err := p.Collateral(stale)
	if err != nil {
		t.Fatal(err)
	}
	for name, getter := range map[string]pcs{"PCS unreachable": nil, "TCB out of date": outOfDate} {
		att := &protocol.Attestation{TEE: tdx.Kind, Quote: q}
		if err := attachCollateral(att, p.Verifier(), getter, tdxtest.Time()); !errors.Is(err, protocol.ErrQuoteCollateral) || att.Collateral != nil {
			t.Errorf("%s: got %v with %d entries attached, want %v and none", name, err, len(att.Collateral), protocol.ErrQuoteCollateral)
		}
	}
	good, err := p.Collateral(tdxtest.DefaultCollateral())
	if err != nil {
		t.Fatal(err)
	}
	att := &protocol.Attestation{TEE: tdx.Kind, Quote: q}
	if err := attachCollateral(att, p.Verifier(), pcs(good), tdxtest.Time()); err != nil || len(att.Collateral) != 4 {
		t.Fatalf("current collateral: %v, %d entries", err, len(att.Collateral))
	}
}
