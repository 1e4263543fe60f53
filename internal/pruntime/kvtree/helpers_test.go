package kvtree

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// kind is an empty tree of one of the two kinds the model tests run on.
type kind struct {
	name  string
	empty Tree
}

// kinds are the unkeyed zero Tree and a keyed tree, the kind pRuntime
// runs: every randomized, fuzz and history-independence test covers both,
// because a keyed tree's priorities decide the shape and so every root a
// worker signs.
func kinds() []kind {
	return []kind{{"unkeyed", Tree{}}, {"keyed", Keyed([32]byte{0x5e, 0xed})}}
}

// model is the specification Tree is checked against: a plain map.
type model map[string]string

func (m model) sortedKeys() []string { return slices.Sorted(maps.Keys(m)) }

func (m model) entries() []Entry {
	var es []Entry
	for _, k := range m.sortedKeys() {
		es = append(es, Entry{Key: []byte(k), Value: []byte(m[k])})
	}
	return es
}

// next is Next's specification, by linear scan.
func (m model) next(after, prefix string) (string, bool) {
	for _, k := range m.sortedKeys() {
		if k > after && strings.HasPrefix(k, prefix) {
			return k, true
		}
	}
	return "", false
}

// contents lists a tree's entries through Ascend.
func contents(tr Tree) model {
	m := model{}
	var prev []byte
	tr.Ascend(func(k, v []byte) bool {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			panic(fmt.Sprintf("Ascend out of order: %q then %q", prev, k))
		}
		prev = k
		m[string(k)] = string(v)
		return true
	})
	return m
}

// assertMatches checks every read operation of tr against m.
func assertMatches(t testing.TB, tr Tree, m model) {
	t.Helper()
	if tr.Len() != len(m) {
		t.Fatalf("Len() = %d, model has %d", tr.Len(), len(m))
	}
	if got := contents(tr); !maps.Equal(got, m) {
		t.Fatalf("Ascend yields %q, model is %q", got, m)
	}
	for k, v := range m {
		got, ok := tr.Get([]byte(k))
		if !ok || string(got) != v {
			t.Fatalf("Get(%q) = %q, %v; want %q, true", k, got, ok, v)
		}
	}
	if root, want := tr.Root(), refRoot(tr.seed, m.entries()); root != want {
		t.Fatalf("Root() = %x, definition gives %x", root, want)
	}
	checkInvariants(t, tr)
}

// refRoot computes the root straight from the package documentation's
// definition, sharing no code with the tree: the entry with the largest
// priority (its key hash, keyed by seed if any) is the root, the entries
// below and above it form its subtrees.
func refRoot(seed *[32]byte, es []Entry) [32]byte {
	if len(es) == 0 {
		return [32]byte{}
	}
	h := func(b []byte) [32]byte { return sha256.Sum256(append([]byte{0x00}, b...)) }
	prio := func(k []byte) [32]byte {
		kh := h(k)
		if seed == nil {
			return kh
		}
		return sha256.Sum256(append(append([]byte{0x03}, seed[:]...), kh[:]...))
	}
	top := 0
	for i := range es {
		if a, b := prio(es[i].Key), prio(es[top].Key); bytes.Compare(a[:], b[:]) > 0 {
			top = i
		}
	}
	kh, vh := h(es[top].Key), h(es[top].Value)
	entry := sha256.Sum256(append(append([]byte{0x02}, kh[:]...), vh[:]...))
	l, r := refRoot(seed, es[:top]), refRoot(seed, es[top+1:])
	var pre []byte
	pre = append(pre, 0x01)
	pre = append(pre, entry[:]...)
	pre = append(pre, l[:]...)
	pre = append(pre, r[:]...)
	return sha256.Sum256(pre)
}

// checkInvariants verifies the structure: search order, heap order on
// priorities, subtree sizes, and every cached hash.
func checkInvariants(t testing.TB, tr Tree) {
	t.Helper()
	var walk func(n *node, lo, hi []byte) int
	walk = func(n *node, lo, hi []byte) int {
		if n == nil {
			return 0
		}
		if len(n.key) == 0 {
			t.Fatalf("node with an empty key")
		}
		if (lo != nil && bytes.Compare(n.key, lo) <= 0) || (hi != nil && bytes.Compare(n.key, hi) >= 0) {
			t.Fatalf("key %q outside (%q, %q): search order broken", n.key, lo, hi)
		}
		if n.pre != prefixOf(n.key) || n.prio != prioOf(priority(tr.seed, hashBytes(n.key))) || n.entry != entryHash(hashBytes(n.key), n.value) {
			t.Fatalf("key %q: cached prefix, priority or entry hash is stale", n.key)
		}
		for _, c := range []*node{n.left, n.right} {
			if c != nil && !outranks(tr.seed, n.prio, n.key, c.prio, c.key) {
				t.Fatalf("child %q outranks parent %q: heap order broken", c.key, n.key)
			}
		}
		size := 1 + walk(n.left, lo, n.key) + walk(n.right, n.key, hi)
		if n.size != size {
			t.Fatalf("key %q: size %d, subtree has %d", n.key, n.size, size)
		}
		if n.hash != nodeHash(n.entry, n.left.merkle(), n.right.merkle()) {
			t.Fatalf("key %q: cached hash is stale", n.key)
		}
		return size
	}
	walk(tr.root, nil, nil)
}

// height is the number of nodes on the longest root-to-leaf path.
func height(n *node) int {
	if n == nil {
		return 0
	}
	return 1 + max(height(n.left), height(n.right))
}
