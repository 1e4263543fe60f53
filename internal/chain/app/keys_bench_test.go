package app

import (
	"fmt"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/keys"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/protocol"
)

// BenchmarkProposePhaseRecheck measures what re-checking the frozen
// recipients at the end of every block of a propose phase costs (keys
// review finding 2): an empty block while the gatekeepers propose, against
// an empty block outside a rotation on the same chain, with members
// members in one cluster. Report the ratio (docs/perf.md).
func BenchmarkProposePhaseRecheck(b *testing.B) {
	const members = 200
	g := testGenesis()
	g.Params.ServeTimeout = 1 << 40 // nobody serves the members here: no lost epoch
	s := newKeysSetupOn(b, g)
	reg := newTxBuilder(key("registrar"))
	reg.nonce = s.ta.account(addr(key("registrar"))).Nonce
	var txs, adds [][]byte
	h := s.ta.app.LastHeight()
	for i := range members {
		enc, err := keys.NewEncryption()
		if err != nil {
			b.Fatal(err)
		}
		id := key(fmt.Sprintf("bench member %d", i))
		txs = append(txs, reg.register(simAttestation(b, id, enc.Public(), h, sim.DefaultBuild)))
		adds = append(adds, s.govTx(protocol.ActionAddWorkerToCluster, protocol.ClusterArgs{Name: "alpha", Worker: pub(id)}))
	}
	s.mustOK(txs...)
	s.mustOK(adds...)
	b.Run("outside a rotation", func(b *testing.B) {
		for b.Loop() {
			s.ta.finalize()
		}
	})
	s.mustOK(s.govTx(protocol.ActionRotate, protocol.RotateArgs{}))
	p := s.toPhase(protocol.PhasePropose)
	if len(p.Recipients) != members+2 {
		b.Fatalf("%d recipients", len(p.Recipients))
	}
	b.Run("propose phase", func(b *testing.B) {
		for b.Loop() {
			s.ta.finalize()
		}
	})
}
