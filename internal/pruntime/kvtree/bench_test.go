package kvtree

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

const benchKeys = 100_000

// benchEntries returns n sorted entries with contract-like keys (a short
// table prefix and a 16-hex-digit id) and 32-byte values.
func benchEntries(n int) []Entry {
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = r.Uint64()
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	es := make([]Entry, len(ids))
	for i, id := range ids {
		es[i] = Entry{Key: fmt.Appendf(nil, "acct/%016x", id), Value: make([]byte, 32)}
	}
	return es
}

// benchTree is a keyed tree, the kind pRuntime runs (an unkeyed one would
// skip the keyed priority's SHA-256 on every insert).
func benchTree(b *testing.B) (Tree, []Entry) {
	es := benchEntries(benchKeys)
	tr, err := Keyed([32]byte{1}).Build(es)
	if err != nil {
		b.Fatal(err)
	}
	return tr, es
}

func BenchmarkGet(b *testing.B) {
	tr, es := benchTree(b)
	i := 0
	for b.Loop() {
		if _, ok := tr.Get(es[i%len(es)].Key); !ok {
			b.Fatal("missing key")
		}
		i += 7919
	}
}

func BenchmarkSetUpdate(b *testing.B) {
	tr, es := benchTree(b)
	v := make([]byte, 32)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v[0] = byte(i)
		v[1] = byte(i >> 8)
		_ = tr.Set(es[i%len(es)].Key, v)
		i += 7919
	}
}

func BenchmarkSetInsert(b *testing.B) {
	tr, _ := benchTree(b)
	v := make([]byte, 32)
	key := make([]byte, 0, 32)
	r := rand.New(rand.NewPCG(9, 9))
	b.ReportAllocs()
	for b.Loop() {
		// Random new keys (the "." suffix keeps them absent), so inserts
		// land all over the tree rather than on one cached path; each
		// starts from the same 10^5-key version.
		key = fmt.Appendf(key[:0], "acct/%016x.", r.Uint64())
		_ = tr.Set(key, v)
	}
}

func BenchmarkDelete(b *testing.B) {
	tr, es := benchTree(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = tr.Delete(es[i%len(es)].Key)
		i += 7919
	}
}

func BenchmarkNext(b *testing.B) {
	tr, es := benchTree(b)
	prefix := []byte("acct/")
	i := 0
	for b.Loop() {
		if _, ok := tr.Next(es[i%(len(es)-1)].Key, prefix); !ok {
			b.Fatal("no next key")
		}
		i += 7919
	}
}

func BenchmarkBuild(b *testing.B) {
	es := benchEntries(benchKeys)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Keyed([32]byte{1}).Build(es); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOverlayCommand(b *testing.B) {
	// A typical command: read two balances, write both back.
	tr, es := benchTree(b)
	v := make([]byte, 32)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		o := NewOverlay(tr)
		from, to := es[i%len(es)].Key, es[(i+1)%len(es)].Key
		v[0], v[1] = byte(i), byte(i>>8)+1 // never the stored all-zero value
		o.Get(from)
		o.Get(to)
		o.Set(from, v)
		o.Set(to, v)
		_ = o.Tree().Root()
		i += 7919
	}
}

// BenchmarkNodeHash is the bound the update benchmarks are read against:
// one node rehash (97 bytes, two SHA-256 blocks), which an update pays
// once per node it copies.
func BenchmarkNodeHash(b *testing.B) {
	var e, l, r [32]byte
	for b.Loop() {
		e = nodeHash(e, l, r)
	}
}
