package runner

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/protocol"
)

// FuzzInstall decodes arbitrary state-transfer plaintexts (authenticated
// by the transfer's signature, but decoded all the same) into a runner
// with one stale contract: it installs or refuses with a protocol error,
// never panics, and an install leaves a well-formed, live instance.
func FuzzInstall(f *testing.F) {
	id := bytes.Repeat([]byte{7}, 32)
	f.Add(protocol.MustMarshal(&clusterState{Contracts: []transferred{{ID: id, Status: protocol.ContractActive, Seed: make([]byte, 32), Storage: []kv{{K: []byte("a"), V: []byte("1")}}, NextSeq: 3}}}))
	f.Add(protocol.MustMarshal(&clusterState{Contracts: []transferred{{ID: id, Seed: make([]byte, 31)}}}))
	f.Add([]byte{0xa1})
	_, identity, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		tx := &state.Tx{}
		r := New(tx, Config{Identity: identity, Dispatch: dispatch.New(tx), Logger: logging.Discard()})
		r.contracts.Set(string(id), instance{Status: protocol.ContractActive, NeedFrom: 5})
		n, err := r.Install(10, plain)
		if err != nil {
			if _, ok := protocol.CodeOf(err); !ok {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		inst, _ := r.contracts.Get(string(id))
		if n != 1 || inst.NeedFrom != 0 || inst.Tree.Len() < 0 {
			t.Fatalf("installed %d, instance %+v", n, inst)
		}
	})
}

// TestInstallBringsBackAStaleContract: a transfer that covers the stale
// contract's need installs its storage, seed and sequence and makes it
// live; one older than the need is refused and changes nothing.
func TestInstallBringsBackAStaleContract(t *testing.T) {
	id := bytes.Repeat([]byte{7}, 32)
	_, identity, _ := ed25519.GenerateKey(nil)
	plain := protocol.MustMarshal(&clusterState{Contracts: []transferred{{ID: id, Status: protocol.ContractActive, Seed: bytes.Repeat([]byte{1}, 32), Storage: []kv{{K: []byte("a"), V: []byte("1")}}, NextSeq: 3}}})
	tx := &state.Tx{}
	r := New(tx, Config{Identity: identity, Dispatch: dispatch.New(tx), Logger: logging.Discard()})
	r.contracts.Set(string(id), instance{Status: protocol.ContractActive, NeedFrom: 5})
	if _, err := r.Install(4, plain); !errors.Is(err, protocol.ErrStateTransfer) {
		t.Fatalf("a transfer older than the need: %v", err)
	}
	if inst, _ := r.contracts.Get(string(id)); inst.NeedFrom != 5 {
		t.Fatal("a refused transfer changed the contract")
	}
	if n, err := r.Install(10, plain); err != nil || n != 1 {
		t.Fatalf("install: %d %v", n, err)
	}
	inst, _ := r.contracts.Get(string(id))
	if v, ok := inst.Tree.Get([]byte("a")); !ok || string(v) != "1" || inst.NeedFrom != 0 || inst.NextSeq != 3 || inst.Seed != [32]byte(bytes.Repeat([]byte{1}, 32)) {
		t.Fatalf("installed %+v", inst)
	}
	if _, err := r.Install(10, plain); !errors.Is(err, protocol.ErrStateNotNeeded) {
		t.Fatalf("installing into a live contract: %v", err)
	}
}
