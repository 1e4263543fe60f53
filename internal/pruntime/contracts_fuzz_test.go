package pruntime_test

import (
	"context"
	"testing"

	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pruntime"
	"github.com/phala-go/phala/internal/tee/sim"
	"github.com/phala-go/phala/internal/testchain"
	"github.com/phala-go/phala/protocol"
)

// FuzzContractRequests feeds arbitrary bytes to the three handlers of
// untrusted contract input — a query, another member's state request, a
// state transfer — on a synced runtime: each refuses with a protocol error
// and none panics.
func FuzzContractRequests(f *testing.F) {
	f.Add(byte(0), []byte{})
	f.Add(byte(1), protocol.MustMarshal(&protocol.SignedStateRequest{Request: protocol.StateRequest{ChainID: "fuzz", Nonce: []byte("n")}}))
	f.Add(byte(2), protocol.MustMarshal(&protocol.SignedStateTransfer{Transfer: protocol.StateTransfer{ChainID: "fuzz", Height: 1, Header: []byte{1}, Sealed: []byte{2}}}))
	f.Add(byte(0), protocol.MustMarshal(&protocol.QueryRequest{Query: protocol.QueryHeader{ChainID: "fuzz", Contract: make([]byte, 32), Signer: make([]byte, 32), Nonce: make([]byte, 16), GasLimit: 1}}))
	dir := f.TempDir()
	provider, err := sim.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	rt, err := pruntime.Open(pruntime.Config{DataDir: dir, TEE: provider, Logger: logging.Discard()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(rt.Kill)
	c := testchain.New("fuzz", 1)
	if err := rt.Init(c.GenesisJSON()); err != nil {
		f.Fatal(err)
	}
	if _, err := rt.Sync(&protocol.SyncRequest{Blocks: []protocol.SyncBlock{c.Next(), c.Next()}}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which byte, body []byte) {
		var err error
		switch which % 3 {
		case 0:
			_, err = rt.Query(context.Background(), body)
		case 1:
			_, err = rt.ServeState(body)
		case 2:
			_, err = rt.ApplyState(body)
		}
		if _, ok := protocol.CodeOf(err); !ok {
			t.Fatalf("handler %d: %v is not a protocol error", which%3, err)
		}
	})
}
