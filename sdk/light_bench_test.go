package sdk_test

import (
	"context"
	"testing"
	"time"

	"github.com/phala-go/phala/internal/chain/nodetest"
	"github.com/phala-go/phala/sdk"
)

// BenchmarkCatchUp measures a new client's first verified tip on a chain
// of a few hundred blocks: skipping from genesis (within the trusting
// period) against verifying every header (past it). ns/header is the
// time over the headers the chain had.
//
//	go test ./sdk -run XXX -bench BenchmarkCatchUp -benchtime 5x
func BenchmarkCatchUp(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tn := nodetest.Start(b, 1, 10*time.Millisecond)
	tn.WaitHeight(ctx, 0, 300)
	for _, bc := range []struct {
		name   string
		period time.Duration
	}{{"skipping", 0}, {"sequential", time.Nanosecond}} {
		b.Run(bc.name, func(b *testing.B) {
			var headers int64
			for range b.N {
				c, err := sdk.DialOptions(ctx, tn.RPCAddr(0), sdk.Options{TrustingPeriod: bc.period})
				if err != nil {
					b.Fatal(err)
				}
				h, err := c.VerifiedTip(ctx)
				if err != nil {
					b.Fatal(err)
				}
				headers += h
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(headers), "ns/header")
		})
	}
}
