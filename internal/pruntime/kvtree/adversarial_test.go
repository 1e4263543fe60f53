package kvtree

import (
	"encoding/binary"
	"testing"
)

// TestGroundKeysForceALinearChain demonstrates the package documentation's
// claim about adversarial keys: priorities are public, so whoever chooses
// keys can grind them into a chain whose depth is the number of keys, at a
// cost quadratic (not exponential) in the depth. Key i is a 2-byte index
// (fixing the key order) and an 8-byte nonce; of 4·depth nonces it takes
// the highest priority below key i-1's, so priorities fall slowly and
// never run out. If this test fails because the attack stopped working,
// the documentation's threat analysis needs updating too.
func TestGroundKeysForceALinearChain(t *testing.T) {
	const depth, tries = 256, 4 * 256
	var tr Tree
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
	if h := height(tr.root); h != depth {
		t.Fatalf("%d ground keys (%d hashes) made a tree of height %d, want the full chain", depth, depth*tries, h)
	}
	// Paths deeper than the reserved stack buffers still work.
	assertMatches(t, tr, m)
	for _, k := range m.sortedKeys()[depth/2:] {
		tr = tr.Delete([]byte(k))
		delete(m, k)
	}
	assertMatches(t, tr, m)
}
