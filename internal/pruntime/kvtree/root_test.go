package kvtree

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestRootDependsOnlyOnContents(t *testing.T) {
	for _, kd := range kinds() {
		t.Run(kd.name, func(t *testing.T) { rootDependsOnlyOnContents(t, kd.empty) })
	}
}

// rootDependsOnlyOnContents reaches the same contents by several
// histories from empty and checks that each gives Build's root.
func rootDependsOnlyOnContents(t *testing.T, empty Tree) {
	for seed := range uint64(10) {
		r := rand.New(rand.NewPCG(seed, 2))
		m := model{}
		for range 60 + r.IntN(60) {
			m[string(randKey(r, 1))] = string(randValue(r))
		}
		keys := m.sortedKeys()
		want, err := empty.Build(m.entries())
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if want.Root() != refRoot(empty.seed, m.entries()) {
			t.Fatalf("seed %d: Build root differs from the definition", seed)
		}
		histories := map[string]func() Tree{
			"ascending": func() Tree {
				tr := empty
				for _, k := range keys {
					tr = tr.Set([]byte(k), []byte(m[k]))
				}
				return tr
			},
			"descending": func() Tree {
				tr := empty
				for i := len(keys) - 1; i >= 0; i-- {
					tr = tr.Set([]byte(keys[i]), []byte(m[keys[i]]))
				}
				return tr
			},
			"shuffled, with extra keys set then deleted and values overwritten": func() Tree {
				tr := empty
				var extra []string
				for _, i := range r.Perm(len(keys)) {
					k := keys[i]
					tr = tr.Set([]byte(k), []byte("stale"))
					x := fmt.Sprintf("extra-%d", r.IntN(1000))
					if _, ok := m[x]; !ok {
						tr = tr.Set([]byte(x), []byte("x"))
						extra = append(extra, x)
					}
					tr = tr.Set([]byte(k), []byte(m[k]))
				}
				for _, x := range extra {
					tr = tr.Delete([]byte(x))
				}
				return tr
			},
			"everything deleted and rebuilt": func() Tree {
				tr := want
				for _, k := range keys {
					tr = tr.Delete([]byte(k))
				}
				if tr.Len() != 0 || tr.Root() != [32]byte{} {
					t.Fatalf("deleting every key left Len %d, Root %x", tr.Len(), tr.Root())
				}
				for _, i := range r.Perm(len(keys)) {
					tr = tr.Set([]byte(keys[i]), []byte(m[keys[i]]))
				}
				return tr
			},
		}
		for name, build := range histories {
			tr := build()
			assertMatches(t, tr, m)
			if tr.Root() != want.Root() {
				t.Fatalf("seed %d, %s: root %x, Build of the same contents %x", seed, name, tr.Root(), want.Root())
			}
		}
	}
}

func TestRootDistinguishesContents(t *testing.T) {
	base := model{"a": "1", "ab": "2", "b": "3"}
	variants := map[string]model{
		"one value changed":          {"a": "1", "ab": "9", "b": "3"},
		"one key added":              {"a": "1", "ab": "2", "b": "3", "c": ""},
		"one key removed":            {"a": "1", "ab": "2"},
		"key and value swapped":      {"1": "a", "ab": "2", "b": "3"},
		"byte moved from key to val": {"a": "1", "a_": "b2", "b": "3"},
		"boundary between key/value": {"a": "1", "ab": "2", "b3": ""},
	}
	root := build(t, base).Root()
	for name, m := range variants {
		if build(t, m).Root() == root {
			t.Errorf("%s: same root as the base contents", name)
		}
	}
}

// build is m's contents as an unkeyed tree.
func build(t *testing.T, m model) Tree {
	t.Helper()
	return buildFrom(t, Tree{}, m)
}

// buildFrom is m's contents as a tree keyed like empty.
func buildFrom(t *testing.T, empty Tree, m model) Tree {
	t.Helper()
	tr, err := empty.Build(m.entries())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return tr
}

// TestRootDefinition pins the hash format, which appears in signed results
// on chain: changing it is a protocol change.
func TestRootDefinition(t *testing.T) {
	h := func(b ...byte) [32]byte { return sha256.Sum256(b) }
	tagged := func(tag byte, parts ...[]byte) [32]byte {
		buf := []byte{tag}
		for _, p := range parts {
			buf = append(buf, p...)
		}
		return h(buf...)
	}
	kh, vh := tagged(0x00, []byte("k")), tagged(0x00, []byte("v"))
	entry := tagged(0x02, kh[:], vh[:])
	zero := make([]byte, 32)
	want := tagged(0x01, entry[:], zero, zero)
	if got := (Tree{}).Set([]byte("k"), []byte("v")).Root(); got != want {
		t.Fatalf("single entry root = %x, definition gives %x", got, want)
	}

	// Two entries: the one whose key hash is larger is the root.
	ka, kb := tagged(0x00, []byte("a")), tagged(0x00, []byte("b"))
	va, vb := tagged(0x00, []byte("1")), tagged(0x00, []byte("2"))
	ea, eb := tagged(0x02, ka[:], va[:]), tagged(0x02, kb[:], vb[:])
	leafA := tagged(0x01, ea[:], zero, zero)
	leafB := tagged(0x01, eb[:], zero, zero)
	var two [32]byte
	if string(ka[:]) > string(kb[:]) {
		two = tagged(0x01, ea[:], zero, leafB[:])
	} else {
		two = tagged(0x01, eb[:], leafA[:], zero)
	}
	if got := build(t, model{"a": "1", "b": "2"}).Root(); got != two {
		t.Fatalf("two entry root = %x, definition gives %x", got, two)
	}

	// A fixed vector, so that a change to the definition itself (not only
	// to the code) fails here too. The value was cross-checked against an
	// independent implementation of the definition (Python, hashlib).
	m := model{}
	for i := range 100 {
		m[fmt.Sprintf("key/%03d", i)] = fmt.Sprintf("value %d", i*i)
	}
	const golden = "36e24002251910ba32bc574680eb46c0f35fa7ee8a5778eed69ed2e5150c620e"
	if got := build(t, m).Root(); hex.EncodeToString(got[:]) != golden {
		t.Fatalf("root of the fixed vector = %x, pinned %s", got, golden)
	}

	// The same contents keyed by the seed 0x00 0x01 … 0x1f. This pins the
	// keyed priority format, SHA-256(0x03 ‖ seed ‖ H(k)), which decides the
	// shape of every contract's tree and so every root workers sign; the
	// unkeyed vector above cannot see it. Cross-checked the same way
	// (Python, hashlib, with the priority computed from the definition).
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(i)
	}
	keyed, err := Keyed(seed).Build(m.entries())
	if err != nil {
		t.Fatalf("keyed Build: %v", err)
	}
	const keyedGolden = "1a8522407ac606dbf24a459490ce23155897406c4b75f101e99209bc6a66ac21"
	if got := keyed.Root(); hex.EncodeToString(got[:]) != keyedGolden {
		t.Fatalf("root of the fixed vector keyed by seed %x = %x, pinned %s", seed, got, keyedGolden)
	}
}
