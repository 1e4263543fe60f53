package kvtree

import (
	"encoding/binary"
	"maps"
	"testing"
)

// TestGroundKeysForceALinearChain demonstrates the package documentation's
// claim about adversarial keys: in an unkeyed tree priorities are public,
// so whoever chooses keys can grind them into a chain whose depth is the
// number of keys, at a cost quadratic (not exponential) in the depth. Key i is a 2-byte index
// (fixing the key order) and an 8-byte nonce; of 4·depth nonces it takes
// the highest priority below key i-1's, so priorities fall slowly and
// never run out. If this test fails because the attack stopped working,
// the documentation's threat analysis needs updating too.
func TestGroundKeysForceALinearChain(t *testing.T) {
	tr, _ := groundChain(t, Tree{})
	if h := height(tr.root); h != groundDepth {
		t.Fatalf("%d ground keys (%d hashes) made a tree of height %d, want the full chain", groundDepth, groundDepth*groundTries, h)
	}
}

// TestKeyedTreeDefeatsGroundKeys shows why pRuntime keys every contract's
// tree: the keys ground against public priorities make an ordinary
// shallow tree once the priorities are keyed by a secret seed.
func TestKeyedTreeDefeatsGroundKeys(t *testing.T) {
	tr, m := groundChain(t, Keyed([32]byte{7}))
	if h := height(tr.root); h > 40 {
		t.Fatalf("%d ground keys in a keyed tree: height %d, want a random treap's (about 2·log2 n)", groundDepth, h)
	}
	checkInvariants(t, tr)
	rebuilt, err := Keyed([32]byte{7}).Build(m.entries())
	if err != nil || rebuilt.Root() != tr.Root() {
		t.Fatalf("keyed Build gives another root (%v)", err)
	}
	if other, _ := Keyed([32]byte{8}).Build(m.entries()); other.Root() == tr.Root() {
		t.Fatal("two seeds gave the same shape for 256 keys")
	}
}

const groundDepth, groundTries = 256, 4 * 256

// groundChain inserts into tr keys ground to make an unkeyed tree a chain.
func groundChain(t *testing.T, tr Tree) (Tree, model) {
	t.Helper()
	const depth, tries = groundDepth, groundTries
	m := model{}
	prev := ^uint64(0)
	key := make([]byte, 10)
	for i := range depth {
		binary.BigEndian.PutUint16(key, uint16(i))
		var best uint64
		var bestNonce int = -1
		for nonce := range tries {
			binary.BigEndian.PutUint64(key[2:], uint64(nonce))
			kh := hashBytes(key)
			if p := binary.BigEndian.Uint64(kh[:8]); p < prev && (bestNonce < 0 || p > best) {
				best, bestNonce = p, nonce
			}
		}
		if bestNonce < 0 {
			t.Fatalf("key %d: no nonce below the previous priority", i)
		}
		binary.BigEndian.PutUint64(key[2:], uint64(bestNonce))
		prev = best
		tr = tr.Set(key, key[:2])
		m[string(key)] = string(key[:2])
	}
	// Paths deeper than the reserved stack buffers still work.
	assertMatches(t, tr, m)
	// Deleting the upper half joins subtrees all along the chain; the
	// result must still be the tree its contents define.
	half, halfModel := tr, maps.Clone(m)
	for _, k := range m.sortedKeys()[depth/2:] {
		half = half.Delete([]byte(k))
		delete(halfModel, k)
	}
	if half.Len() != depth/2 {
		t.Fatalf("deleting half of the keys left %d", half.Len())
	}
	assertMatches(t, half, halfModel)
	return tr, m
}
