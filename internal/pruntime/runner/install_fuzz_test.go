package runner

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/phala-go/phala/internal/logging"
	"github.com/phala-go/phala/internal/pruntime/dispatch"
	"github.com/phala-go/phala/internal/pruntime/kvtree"
	"github.com/phala-go/phala/internal/pruntime/state"
	"github.com/phala-go/phala/internal/wasm/abi"
	"github.com/phala-go/phala/protocol"
)

var staleID = bytes.Repeat([]byte{7}, 32)

// staleRunner is a runner whose one contract, staleID, waits for a state
// transfer of height 5 or later; its changes are committed.
func staleRunner(t testing.TB) (*Runner, *state.Tx) {
	t.Helper()
	_, identity, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tx := &state.Tx{}
	r := New(tx, Config{Identity: identity, Dispatch: dispatch.New(tx), Logger: logging.Discard()})
	r.contracts.Set(string(staleID), instance{Status: protocol.ContractActive, NeedFrom: 5})
	tx.Commit()
	return r, tx
}

// storage is the encoding of a tree holding the given key, value pairs.
func storage(t testing.TB, kvs ...string) []byte {
	t.Helper()
	tr := kvtree.Keyed([32]byte{1})
	for i := 0; i < len(kvs); i += 2 {
		tr = tr.Set([]byte(kvs[i]), []byte(kvs[i+1]))
	}
	return storageOf(tr)
}

// realTransfer is a transfer's content as a member's view encodes it: the
// stale contract with two entries and one pending message, and another
// contract this runner does not run.
func realTransfer(t testing.TB) clusterState {
	t.Helper()
	_, member, _ := ed25519.GenerateKey(nil)
	sm := protocol.SignMessage(member, "c", protocol.Message{Origin: protocol.ContractOrigin(staleID), Topic: "t", Seq: 2, Payload: []byte("p")})
	msg := protocol.MustMarshal(&sm)
	return clusterState{Contracts: []transferred{
		{ID: staleID, Status: protocol.ContractActive, Seed: bytes.Repeat([]byte{1}, 32), Storage: storage(t, "a", "1", "b", "2"), NextSeq: 3, Outbox: [][]byte{msg}},
		{ID: bytes.Repeat([]byte{8}, 32), Status: protocol.ContractActive, Seed: make([]byte, 32), Storage: storage(t, "z", "9")},
	}}
}

// installOrRefuse installs plain into r as of height: a refusal must carry
// a protocol code and change nothing once the caller rolls back (as
// ApplyState does); an install must leave the stale contract live.
func installOrRefuse(t *testing.T, r *Runner, tx *state.Tx, height int64, plain []byte) {
	before, _ := r.contracts.CommittedGet(string(staleID))
	n, err := r.Install(height, plain)
	if err != nil {
		if _, ok := protocol.CodeOf(err); !ok {
			t.Fatalf("refusal without a code: %v", err)
		}
		tx.Rollback()
		after, _ := r.contracts.Get(string(staleID))
		if after.NeedFrom != before.NeedFrom || after.Tree.Root() != before.Tree.Root() || len(r.outbox.Keys()) != 0 {
			t.Fatalf("a refused transfer changed the contract: %+v", after)
		}
		return
	}
	inst, _ := r.contracts.Get(string(staleID))
	if n != 1 || inst.NeedFrom != 0 {
		t.Fatalf("installed %d, instance %+v", n, inst)
	}
	tx.Rollback()
}

// FuzzInstall decodes arbitrary state-transfer plaintexts (authenticated
// by the transfer's signature, but decoded all the same) into a runner
// with one stale contract: it installs or refuses with a protocol error,
// never panics, and a refusal changes nothing.
func FuzzInstall(f *testing.F) {
	f.Add(protocol.MustMarshal(&clusterState{Contracts: []transferred{{ID: staleID, Status: protocol.ContractActive, Seed: make([]byte, 32), Storage: storage(f, "a", "1"), NextSeq: 3}}}))
	f.Add(protocol.MustMarshal(&clusterState{Contracts: []transferred{{ID: staleID, Seed: make([]byte, 31)}}}))
	f.Add(protocol.MustMarshal(ptr(realTransfer(f))))
	f.Add([]byte{0xa1})
	f.Fuzz(func(t *testing.T, plain []byte) {
		r, tx := staleRunner(t)
		installOrRefuse(t, r, tx, 10, plain)
	})
}

func ptr[T any](v T) *T { return &v }

// FuzzInstallStructure starts from a real transfer's content and changes
// one thing the way a broken member could — a field emptied, made
// extreme, duplicated, swapped or truncated — before encoding it again:
// each installs or is refused with a protocol error, and a refusal
// changes nothing.
func FuzzInstallStructure(f *testing.F) {
	for field := range byte(16) {
		f.Add(field, []byte{}, int64(0))
		f.Add(field, []byte("\x00\x01\xff"), int64(-1))
		f.Add(field, bytes.Repeat([]byte{0xff}, 40), int64(math.MaxInt64))
	}
	f.Fuzz(func(t *testing.T, field byte, data []byte, n int64) {
		r, tx := staleRunner(t)
		s := realTransfer(t)
		c := &s.Contracts[0]
		switch field % 16 {
		case 0:
			c.ID = data
		case 1:
			c.Status = string(data)
		case 2:
			c.Seed = data
		case 3:
			c.Storage = data
		case 4:
			c.Storage = append(c.Storage, data...)
		case 5:
			c.Storage = c.Storage[:min(uint64(len(c.Storage)), uint64(n)%(uint64(len(c.Storage))+1))]
		case 6:
			c.NextSeq = uint64(n)
		case 7:
			c.Outbox = append(c.Outbox, data)
		case 8:
			c.Outbox = append(c.Outbox, c.Outbox...)
		case 9:
			s.Contracts = append(s.Contracts, s.Contracts[0])
		case 10:
			s.Contracts[0], s.Contracts[1] = s.Contracts[1], s.Contracts[0]
		case 11:
			s.Contracts = nil
		case 12:
			c.Storage = append(binary.AppendUvarint(nil, uint64(n)), data...)
		case 13:
			c.Storage, s.Contracts[1].Storage = s.Contracts[1].Storage, c.Storage
		case 14:
			c.Outbox = nil
		}
		plain, err := protocol.Marshal(&s)
		if err != nil {
			return // not encodable (a string that is not UTF-8)
		}
		installOrRefuse(t, r, tx, n%20, plain)
	})
}

// TestInstallBringsBackAStaleContract: a transfer that covers the stale
// contract's need installs its storage, seed and sequence and makes it
// live; one older than the need is refused and changes nothing.
func TestInstallBringsBackAStaleContract(t *testing.T) {
	plain := protocol.MustMarshal(&clusterState{Contracts: []transferred{{ID: staleID, Status: protocol.ContractActive, Seed: bytes.Repeat([]byte{1}, 32), Storage: storage(t, "a", "1"), NextSeq: 3}}})
	r, _ := staleRunner(t)
	if _, err := r.Install(4, plain); !errors.Is(err, protocol.ErrStateTransfer) {
		t.Fatalf("a transfer older than the need: %v", err)
	}
	if inst, _ := r.contracts.Get(string(staleID)); inst.NeedFrom != 5 {
		t.Fatal("a refused transfer changed the contract")
	}
	if n, err := r.Install(10, plain); err != nil || n != 1 {
		t.Fatalf("install: %d %v", n, err)
	}
	inst, _ := r.contracts.Get(string(staleID))
	if v, ok := inst.Tree.Get([]byte("a")); !ok || string(v) != "1" || inst.NeedFrom != 0 || inst.NextSeq != 3 || inst.Seed != [32]byte(bytes.Repeat([]byte{1}, 32)) {
		t.Fatalf("installed %+v", inst)
	}
	if _, err := r.Install(10, plain); !errors.Is(err, protocol.ErrStateNotNeeded) {
		t.Fatalf("installing into a live contract: %v", err)
	}
}

// TestInstallRefusesContentNoMemberEncodes: each malformed part of a
// transfer's content is refused with ErrStateTransfer.
func TestInstallRefusesContentNoMemberEncodes(t *testing.T) {
	edit := func(f func(*clusterState)) []byte {
		s := realTransfer(t)
		f(&s)
		return protocol.MustMarshal(&s)
	}
	long := string(bytes.Repeat([]byte{'k'}, abi.MaxKeyBytes+1))
	cases := []struct {
		name  string
		plain []byte
	}{
		{"not CBOR", []byte("junk")},
		{"a short contract id", edit(func(s *clusterState) { s.Contracts[0].ID = staleID[:31] })},
		{"a contract twice", edit(func(s *clusterState) { s.Contracts = append(s.Contracts, s.Contracts[0]) })},
		{"an unknown status", edit(func(s *clusterState) { s.Contracts[0].Status = "live" })},
		{"a short seed", edit(func(s *clusterState) { s.Contracts[0].Seed = make([]byte, 31) })},
		{"a truncated storage", edit(func(s *clusterState) { s.Contracts[0].Storage = s.Contracts[0].Storage[:3] })},
		{"keys out of order", edit(func(s *clusterState) {
			s.Contracts[0].Storage = append(storage(t, "b", "2"), storage(t, "a", "1")...)
		})},
		{"a key twice", edit(func(s *clusterState) { s.Contracts[0].Storage = append(storage(t, "a", "1"), storage(t, "a", "1")...) })},
		{"an empty key", edit(func(s *clusterState) { s.Contracts[0].Storage = []byte{0, 1, 'v'} })},
		{"an over-long key", edit(func(s *clusterState) { s.Contracts[0].Storage = storage(t, long, "1") })},
		{"an over-long value", edit(func(s *clusterState) {
			s.Contracts[0].Storage = append(append([]byte{1, 'a'}, binary.AppendUvarint(nil, abi.MaxValueBytes+1)...), make([]byte, abi.MaxValueBytes+1)...)
		})},
		{"a length past the end", edit(func(s *clusterState) { s.Contracts[0].Storage = []byte{0x80, 0x80, 0x04, 'a'} })},
		{"a pending message of another origin", edit(func(s *clusterState) {
			s.Contracts[0].Outbox = append(s.Contracts[0].Outbox, s.Contracts[0].Outbox[0][1:])
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, tx := staleRunner(t)
			if _, err := r.Install(10, c.plain); !errors.Is(err, protocol.ErrStateTransfer) {
				t.Fatalf("got %v, want %v", err, protocol.ErrStateTransfer)
			}
			tx.Rollback()
			if inst, _ := r.contracts.Get(string(staleID)); inst.NeedFrom != 5 {
				t.Fatal("a refused transfer changed the contract")
			}
		})
	}
}

// TestStorageBeyondTheCBORArrayCapTransfers: a contract with more storage
// entries than canonical CBOR decodes in one array (65,536) is encoded by
// a member's view and installed whole by a newcomer.
func TestStorageBeyondTheCBORArrayCapTransfers(t *testing.T) {
	seed := [32]byte{1}
	tr := kvtree.Keyed(seed)
	for i := range 70_000 {
		tr = tr.Set(binary.BigEndian.AppendUint32(nil, uint32(i)), []byte{byte(i)})
	}
	v := &View{Height: 10, Contracts: map[string]*ContractView{string(staleID): {ID: staleID, Status: protocol.ContractActive, Seed: seed, Tree: tr, Height: 10, Live: true}}}
	plain, err := v.ClusterState()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := staleRunner(t)
	if n, err := r.Install(10, plain); err != nil || n != 1 {
		t.Fatalf("install: %d %v", n, err)
	}
	inst, _ := r.contracts.Get(string(staleID))
	if inst.Tree.Len() != 70_000 || inst.Tree.Root() != tr.Root() {
		t.Fatalf("installed %d entries, root %x, want 70000 and %x", inst.Tree.Len(), inst.Tree.Root(), tr.Root())
	}
}
