package app

import (
	"fmt"
	"testing"

	"github.com/phala-go/phala/internal/chain/registry"
	"github.com/phala-go/phala/protocol"
)

// BenchmarkRevocationBlock measures the block that revokes a measurement
// with registry.RetireBatch workers, the most a block retires, against a
// block of as many transfers in the same run: the cost a revocation adds to
// a block is bounded by the batch, however many workers it retires in all.
// Run: go test ./internal/chain/app -run '^$' -bench RevocationBlock -benchtime 10x
func BenchmarkRevocationBlock(b *testing.B) {
	ta := newTestApp(b, testGenesis())
	a := newTxBuilder(alice)
	gov := uint64(0)
	transfers := newTxBuilder(bob)
	b.Run("transfers", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			txs := make([][]byte, registry.RetireBatch)
			for i := range txs {
				txs[i] = transfers.transfer(addr(alice), 1)
			}
			b.StartTimer()
			ta.finalize(txs...)
		}
	})
	b.Run("revocation", func(b *testing.B) {
		for n := range b.N {
			b.StopTimer()
			build := fmt.Sprintf("bench build %d", n)
			meas := protocol.SimMeasurement(build)
			ta.finalize(a.govTx(gov, protocol.ActionAllowMeasurement, protocol.MeasurementArgs{Measurement: meas}, admin1, admin2))
			gov++
			h := ta.app.LastHeight()
			regs := make([][]byte, registry.RetireBatch)
			for i := range regs {
				regs[i] = a.register(simAttestation(b, key(fmt.Sprintf("bench %d %d", n, i)), []byte("k"), h, build))
			}
			ta.finalize(regs...)
			revoke := a.govTx(gov, protocol.ActionRevokeMeasurement, protocol.MeasurementArgs{Measurement: meas}, admin1, admin2)
			gov++
			b.StartTimer()
			ta.finalize(revoke)
		}
	})
}
