package kvtree

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// randKey draws from a small alphabet with short lengths, so that random
// operations hit existing keys often and keys are often prefixes of each
// other; 0x00 and 0xff sit at the edges of byte order. Half the keys start
// with 14 to 16 bytes of a common stem, so that comparisons run past the
// 16-byte prefix nodes cache and on into the full keys.
func randKey(r *rand.Rand, minLen int) []byte {
	const alphabet = "ab\x00\xff"
	var k []byte
	if r.IntN(2) == 0 {
		k = append(k, longStem[:14+r.IntN(3)]...)
	}
	for range minLen + r.IntN(4-minLen) {
		k = append(k, alphabet[r.IntN(len(alphabet))])
	}
	return k
}

// longStem is a common key start longer than the cached key prefix.
const longStem = "stem/\x00\xff0123456789"

func randValue(r *rand.Rand) []byte {
	v := make([]byte, r.IntN(3))
	for i := range v {
		v[i] = byte('0' + r.IntN(3))
	}
	return v
}

func TestTreeBehavesLikeAMapUnderRandomOperations(t *testing.T) {
	for _, kd := range kinds() {
		t.Run(kd.name, func(t *testing.T) { randomOperations(t, kd.empty) })
	}
}

func randomOperations(t *testing.T, empty Tree) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		tr := empty
		m := model{}
		for step := range 400 {
			k := randKey(r, 1)
			switch r.IntN(3) {
			case 0, 1:
				v := randValue(r)
				tr = tr.Set(k, v)
				m[string(k)] = string(v)
			case 2:
				tr = tr.Delete(k)
				delete(m, string(k))
			}
			// The full comparison (contents, root against its definition,
			// structural invariants) is O(n log n); cheap probes run every
			// step.
			if step%10 == 9 {
				assertMatches(t, tr, m)
			} else if tr.Len() != len(m) {
				t.Fatalf("seed %d: Len() = %d, model has %d", seed, tr.Len(), len(m))
			}
			got, ok := tr.Get(k)
			if want, wok := m[string(k)]; ok != wok || string(got) != want {
				t.Fatalf("seed %d: Get(%q) of the key just written = %q, %v; model %q, %v", seed, k, got, ok, want, wok)
			}
			for range 4 {
				probe := randKey(r, 1)
				got, ok := tr.Get(probe)
				want, wok := m[string(probe)]
				if ok != wok || string(got) != want {
					t.Fatalf("seed %d: Get(%q) = %q, %v; model %q, %v", seed, probe, got, ok, want, wok)
				}
				after, prefix := randKey(r, 0), randKey(r, 0)
				nk, nok := tr.Next(after, prefix)
				wk, wnok := m.next(string(after), string(prefix))
				if nok != wnok || string(nk) != wk {
					t.Fatalf("seed %d: Next(%q, %q) = %q, %v; model %q, %v", seed, after, prefix, nk, nok, wk, wnok)
				}
			}
		}
		// assertMatches checks the root under the tree's own seed; this
		// also catches an update that dropped or changed it.
		if rebuilt := buildFrom(t, empty, m); rebuilt.Root() != tr.Root() {
			t.Fatalf("seed %d: root %x after the operations, %x rebuilt from the same contents", seed, tr.Root(), rebuilt.Root())
		}
	}
}

func TestOldVersionsAreUnchangedByLaterUpdates(t *testing.T) {
	for _, kd := range kinds() {
		t.Run(kd.name, func(t *testing.T) { oldVersionsUnchanged(t, kd.empty) })
	}
}

func oldVersionsUnchanged(t *testing.T, empty Tree) {
	r := rand.New(rand.NewPCG(7, 7))
	type version struct {
		tree Tree
		want model
		root [32]byte
	}
	var versions []version
	tr := empty
	m := model{}
	for range 300 {
		versions = append(versions, version{tree: tr, want: maps.Clone(m), root: tr.Root()})
		k := randKey(r, 1)
		if r.IntN(3) == 0 {
			tr = tr.Delete(k)
			delete(m, string(k))
		} else {
			v := randValue(r)
			tr = tr.Set(k, v)
			m[string(k)] = string(v)
		}
	}
	for i, v := range versions {
		if v.tree.Root() != v.root {
			t.Fatalf("version %d: root changed from %x to %x", i, v.root, v.tree.Root())
		}
		assertMatches(t, v.tree, v.want)
		if rebuilt := buildFrom(t, empty, v.want); rebuilt.Root() != v.root {
			t.Fatalf("version %d: root %x, %x rebuilt from the same contents", i, v.root, rebuilt.Root())
		}
	}
}

func TestSetOfTheSameValueReturnsTheSameVersion(t *testing.T) {
	tr := Tree{}.Set([]byte("k"), []byte("v")).Set([]byte("j"), []byte("w"))
	again := tr.Set([]byte("k"), []byte("v"))
	if again.root != tr.root {
		t.Fatalf("re-setting an identical value built a new version")
	}
	changed := tr.Set([]byte("k"), []byte("v2"))
	if changed.root == tr.root || changed.Root() == tr.Root() {
		t.Fatalf("setting a different value left the version unchanged")
	}
}

func TestEmptyValueIsPresent(t *testing.T) {
	tr := Tree{}.Set([]byte("k"), nil)
	v, ok := tr.Get([]byte("k"))
	if !ok || len(v) != 0 {
		t.Fatalf("Get after Set(k, nil) = %q, %v; want empty, true", v, ok)
	}
	if tr.Set([]byte("k"), []byte{}).root != tr.root {
		t.Fatalf("nil and empty values differ")
	}
	if tr.Root() == (Tree{}).Root() {
		t.Fatalf("a key with an empty value has the empty tree's root")
	}
}

func TestDeleteOfAnAbsentKeyReturnsTheSameVersion(t *testing.T) {
	tr := Tree{}.Set([]byte("a"), []byte("1")).Set([]byte("c"), []byte("3"))
	for _, k := range []string{"b", "", "aa", "d"} {
		if tr.Delete([]byte(k)).root != tr.root {
			t.Fatalf("Delete(%q) of an absent key built a new version", k)
		}
	}
}

func TestSetRefusesTheEmptyKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatalf("Set with an empty key did not panic")
		}
	}()
	Tree{}.Set(nil, []byte("v"))
}

func TestCallerBuffersMayBeReusedAfterSet(t *testing.T) {
	key, val := []byte("key"), []byte("value")
	tr := Tree{}.Set(key, val)
	root := tr.Root()
	copy(key, "KEY")
	copy(val, "VALUE")
	if v, ok := tr.Get([]byte("key")); !ok || string(v) != "value" {
		t.Fatalf("after the caller rewrote its buffers, Get(key) = %q, %v", v, ok)
	}
	if _, ok := tr.Get([]byte("KEY")); ok {
		t.Fatalf("the tree holds the caller's key buffer")
	}
	// Updating an existing key copies the new value too.
	upd := []byte("second")
	tr = tr.Set([]byte("key"), upd)
	copy(upd, "SECOND")
	if v, _ := tr.Get([]byte("key")); string(v) != "second" {
		t.Fatalf("after the caller rewrote its buffer, updated value = %q", v)
	}
	if tr.Root() == root {
		t.Fatalf("update did not change the root")
	}
}

func TestAscendStopsWhenFnReturnsFalse(t *testing.T) {
	var tr Tree
	for _, k := range []string{"d", "a", "c", "b", "e"} {
		tr = tr.Set([]byte(k), []byte(k))
	}
	var seen []string
	tr.Ascend(func(k, v []byte) bool {
		seen = append(seen, string(k))
		return len(seen) < 3
	})
	if want := []string{"a", "b", "c"}; !slices.Equal(seen, want) {
		t.Fatalf("Ascend visited %q, want %q", seen, want)
	}
	Tree{}.Ascend(func(k, v []byte) bool {
		t.Fatalf("Ascend on the empty tree called fn")
		return false
	})
}

func TestZeroTreeIsEmpty(t *testing.T) {
	var tr Tree
	if tr.Len() != 0 || tr.Root() != [32]byte{} {
		t.Fatalf("zero Tree: Len %d, Root %x", tr.Len(), tr.Root())
	}
	if _, ok := tr.Get([]byte("a")); ok {
		t.Fatalf("zero Tree has a key")
	}
	if _, ok := tr.Next(nil, nil); ok {
		t.Fatalf("zero Tree has a next key")
	}
}

func TestConcurrentReadersSeeTheirVersionWhileAWriterCommits(t *testing.T) {
	// Run with -race: readers walk a committed version while the writer
	// builds new ones from it, sharing its nodes.
	var base Tree
	for i := range 500 {
		base = base.Set([]byte{byte(i >> 8), byte(i)}, []byte{byte(i)})
	}
	want := base.Root()
	done := make(chan [32]byte)
	for range 2 {
		go func() {
			n := 0
			for range 20 {
				n = 0
				base.Ascend(func(k, v []byte) bool { n++; return true })
			}
			if n != 500 {
				done <- [32]byte{}
				return
			}
			done <- base.Root()
		}()
	}
	tr := base
	for i := range 500 {
		tr = tr.Set([]byte{byte(i >> 8), byte(i)}, []byte("new"))
		if i%2 == 0 {
			tr = tr.Delete([]byte{byte(i >> 8), byte(i)})
		}
	}
	for range 2 {
		if got := <-done; got != want {
			t.Fatalf("a reader saw root %x, the committed version has %x", got, want)
		}
	}
	if !bytes.Equal(must(base.Get([]byte{0, 1})), []byte{1}) {
		t.Fatalf("the committed version changed under the writer")
	}
}

func must(v []byte, ok bool) []byte {
	if !ok {
		return nil
	}
	return v
}

func TestUpdatesCopyOnlyAPath(t *testing.T) {
	for _, kd := range kinds() {
		t.Run(kd.name, func(t *testing.T) { updatesCopyOnlyAPath(t, kd.empty) })
	}
}

func updatesCopyOnlyAPath(t *testing.T, empty Tree) {
	m := model{}
	for i := range 10_000 {
		m[fmt.Sprintf("k%05d", i*2)] = "v"
	}
	base := buildFrom(t, empty, m)
	old := map[*node]bool{}
	var collect func(n *node)
	collect = func(n *node) {
		if n != nil && !old[n] {
			old[n] = true
			collect(n.left)
			collect(n.right)
		}
	}
	collect(base.root)
	// Every update rebuilds the nodes on one search path, plus (for an
	// insert or delete) the nodes split or joined below it: each at most
	// one per level.
	limit := 2*height(base.root) + 1
	r := rand.New(rand.NewPCG(3, 3))
	for range 200 {
		k := []byte(fmt.Sprintf("k%05d", r.IntN(20_001)))
		var next Tree
		if r.IntN(2) == 0 {
			next = base.Set(k, []byte("new"))
		} else {
			next = base.Delete(k)
		}
		fresh := 0
		var count func(n *node)
		count = func(n *node) {
			if n != nil && !old[n] {
				fresh++
				count(n.left)
				count(n.right)
			}
		}
		count(next.root)
		if fresh > limit {
			t.Fatalf("an update of %q built %d new nodes; a path is at most %d", k, fresh, limit)
		}
		if next.root != base.root && fresh == 0 {
			t.Fatalf("an update of %q changed the root without building a node", k)
		}
	}
}
