// Package syncbench holds pRuntime's sync benchmark workloads, shared by
// `go test -bench` and the bench/ harness: synthetic chains signed by real
// ed25519 keys (4 or 100 validators, empty or 100-message blocks) synced
// in-process, and the signature-verification bound they are compared with.
package syncbench

import (
	"fmt"
	"os"
	"testing"

	"github.com/cometbft/cometbft/crypto/ed25519"

	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
)

// Workload is one benchmark case.
type Workload struct {
	Validators int
	Messages   int // per block
}

// Workloads are the cases the sync benchmark reports.
var Workloads = []Workload{
	{Validators: 4, Messages: 0},
	{Validators: 4, Messages: 100},
	{Validators: 100, Messages: 0},
	{Validators: 100, Messages: 100},
}

// Name labels the case.
func (w Workload) Name() string { return fmt.Sprintf("%dvals/%dmsgs", w.Validators, w.Messages) }

// Needed is the number of signatures that carry +2/3 of equal voting power.
func (w Workload) Needed() int { return w.Validators*2/3 + 1 }

// Generator produces the blocks of a workload's chain.
type Generator struct {
	w     Workload
	chain *testchain.Chain
}

// NewGenerator starts a workload's chain.
func NewGenerator(w Workload) *Generator {
	return &Generator{w: w, chain: testchain.New(fmt.Sprintf("bench-%d", w.Validators), w.Validators)}
}

// Genesis is the chain's genesis document.
func (g *Generator) Genesis() []byte { return g.chain.GenesisJSON() }

// Next produces the next block.
func (g *Generator) Next() protocol.SyncBlock {
	msgs := make([]protocol.Message, g.w.Messages)
	for i := range msgs {
		origin := protocol.AccountOrigin(protocol.Address{byte(i)})
		msgs[i] = g.chain.Msg(origin, "bench", make([]byte, 64))
	}
	return g.chain.Next(msgs...)
}

// NewRuntime opens a pRuntime with the sim TEE in dir, initialised with
// genesis, checkpointing rarely.
func NewRuntime(dir string, genesis []byte) (*pruntime.Runtime, error) {
	provider, err := sim.Open(dir)
	if err != nil {
		return nil, err
	}
	rt, err := pruntime.Open(pruntime.Config{DataDir: dir, TEE: provider, Logger: logging.Discard(), CheckpointEvery: 1 << 40})
	if err != nil {
		return nil, err
	}
	return rt, rt.Init(genesis)
}

// BenchSync measures in-process sync of a workload in batches of 100 blocks
// and reports blocks/s.
func BenchSync(b *testing.B, w Workload) {
	g := NewGenerator(w)
	blocks := make([]protocol.SyncBlock, b.N)
	for i := range blocks {
		blocks[i] = g.Next()
	}
	dir, err := os.MkdirTemp("", "syncbench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	rt, err := NewRuntime(dir, g.Genesis())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < len(blocks); i += 100 {
		req := &protocol.SyncRequest{Blocks: blocks[i:min(i+100, len(blocks))]}
		if _, err := rt.Sync(req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}

// BenchVerify measures one ed25519 verification of a vote-sized message with
// the CometBFT key type pRuntime verifies commits with.
func BenchVerify(b *testing.B) {
	k := ed25519.GenPrivKey()
	msg := make([]byte, 120)
	sig, _ := k.Sign(msg)
	pub := k.PubKey()
	b.ResetTimer()
	for range b.N {
		if !pub.VerifySignature(msg, sig) {
			b.Fatal("verify failed")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verify/s")
}
