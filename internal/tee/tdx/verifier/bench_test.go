package verifier_test

import (
	"crypto/x509"
	"testing"

	"github.com/google/go-tdx-guest/verify"

	"github.com/phala-go/phala/internal/tee/tdx/tdxtest"
	"github.com/phala-go/phala/internal/tee/tdx/verifier"
	"github.com/phala-go/phala/protocol"
)

// BenchmarkVerify measures what a registration costs every validator
// (CheckTx and FinalizeBlock each verify): a quote alone, with genuine
// collateral, and the refusal of oversized collateral, which must cost
// nothing near a verification (review finding 7: 1.9 MB took 77 ms).
//
//	go test ./internal/tee/tdx/verifier -run XXX -bench Verify -benchtime 200x
func BenchmarkVerify(b *testing.B) {
	p, err := tdxtest.NewPKI()
	if err != nil {
		b.Fatal(err)
	}
	q, err := p.Quote(tdxtest.NewTD("b", make([]byte, 64)), tdxtest.IntelQE())
	if err != nil {
		b.Fatal(err)
	}
	coll, err := p.Collateral(tdxtest.DefaultCollateral())
	if err != nil {
		b.Fatal(err)
	}
	big := append([]protocol.CollateralEntry(nil), coll...)
	big[3].Body = make([]byte, 1_900_000)
	v := p.Verifier()
	// The bound: go-tdx-guest alone, one pass with collateral, no strict
	// parsing and no pinned checks.
	b.Run("go-tdx-guest alone (bound)", func(b *testing.B) {
		roots := x509.NewCertPool()
		roots.AddCert(p.Root)
		for b.Loop() {
			parsed, err := verifier.Parse(q)
			if err != nil {
				b.Fatal(err)
			}
			opts := &verify.Options{Now: tdxtest.Time(), TrustedRoots: roots, Getter: getter(coll), GetCollateral: true, CheckRevocations: true}
			if err := verify.TdxQuote(parsed, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range []struct {
		name string
		coll []protocol.CollateralEntry
		ok   bool
	}{
		{"quote only", nil, true},
		{"genuine collateral", coll, true},
		{"1.9 MB collateral refused", big, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := v.Verify(q, c.coll, tdxtest.Time()); (err == nil) != c.ok {
					b.Fatal(err)
				}
			}
		})
	}
}
