package kvtree

import (
	"bytes"
	"crypto/sha256"
)

// Domain tags: the first byte of every SHA-256 input, so a byte string's
// hash can never be taken for a node's hash (or the other way round) in a
// proof built on these roots.
const (
	tagBytes byte = 0x00
	tagNode  byte = 0x01
	tagEntry byte = 0x02
)

// emptyHash is the hash of the empty tree and of every absent child.
var emptyHash [32]byte

// node is immutable once sealed: every field is set when the node is built
// and never written again, which is what lets versions share nodes and lets
// readers on other goroutines walk them without locks. key and value are
// private copies owned by the tree.
type node struct {
	key, value  []byte
	left, right *node
	kh          [32]byte // H(key), which is also the node's priority
	eh          [32]byte // the entry hash, binding key and value
	hash        [32]byte // the Merkle hash of the subtree rooted here
	size        int      // number of nodes in the subtree rooted here
}

// hashBytes is H(b) = SHA-256(0x00 ‖ b).
func hashBytes(b []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{tagBytes})
	h.Write(b)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// entryHash is SHA-256(0x02 ‖ H(key) ‖ H(value)). It is computed once per
// entry version, so that rehashing a node whose children changed (every
// node on an update's path) hashes 97 bytes, two SHA-256 blocks, instead
// of the three that key hash, value hash and children together would take.
func entryHash(kh *[32]byte, value []byte) [32]byte {
	vh := hashBytes(value)
	var buf [1 + 2*32]byte
	buf[0] = tagEntry
	copy(buf[1:33], kh[:])
	copy(buf[33:65], vh[:])
	return sha256.Sum256(buf[:])
}

// nodeHash is SHA-256(0x01 ‖ entry ‖ left ‖ right).
func nodeHash(eh, left, right *[32]byte) [32]byte {
	var buf [1 + 3*32]byte
	buf[0] = tagNode
	copy(buf[1:33], eh[:])
	copy(buf[33:65], left[:])
	copy(buf[65:97], right[:])
	return sha256.Sum256(buf[:])
}

// newNode builds a leaf-to-be for key and value, copying both into one
// allocation so that callers may reuse their buffers. It is not sealed.
func newNode(key, value []byte, kh [32]byte) *node {
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	return &node{
		key:   buf[:len(key):len(key)],
		value: buf[len(key):],
		kh:    kh,
		eh:    entryHash(&kh, value),
	}
}

// seal computes the size and hash from the children; it is the last write a
// node ever receives.
func (n *node) seal() {
	n.size = 1 + n.left.count() + n.right.count()
	n.hash = nodeHash(&n.eh, n.left.merkle(), n.right.merkle())
}

// with returns a sealed copy of n (same key and value) with new children:
// the one allocation path copying makes per node on the path.
func (n *node) with(left, right *node) *node {
	c := &node{key: n.key, value: n.value, kh: n.kh, eh: n.eh, left: left, right: right}
	c.seal()
	return c
}

// count is the size of the subtree, 0 for nil.
func (n *node) count() int {
	if n == nil {
		return 0
	}
	return n.size
}

// merkle is the subtree's hash, emptyHash for nil.
func (n *node) merkle() *[32]byte {
	if n == nil {
		return &emptyHash
	}
	return &n.hash
}

// outranks reports whether a node with key hash akh and key akey belongs
// above one with bkh and bkey: the larger key hash (as a big-endian
// integer) wins, and equal hashes (a SHA-256 collision, which we never
// expect to see) fall back to the smaller key so that the order stays total
// and the shape unique.
func outranks(akh *[32]byte, akey []byte, bkh *[32]byte, bkey []byte) bool {
	if c := bytes.Compare(akh[:], bkh[:]); c != 0 {
		return c > 0
	}
	return bytes.Compare(akey, bkey) < 0
}

// step is one node on a search path and the side the search left it by.
type step struct {
	n    *node
	left bool
}

// pathBuf is the stack capacity reserved for a search path; a treap of a
// million random keys is about 50 deep, and deeper paths spill to the heap
// rather than fail.
const pathBuf = 64

// rebuild replaces the bottom of path with sub and copies every node on
// the path above it, returning the new root.
func rebuild(path []step, sub *node) *node {
	for i := len(path) - 1; i >= 0; i-- {
		s := path[i]
		if s.left {
			sub = s.n.with(sub, s.n.right)
		} else {
			sub = s.n.with(s.n.left, sub)
		}
	}
	return sub
}

// split divides t into the nodes with keys below key and those above it.
// key must not be in t. It walks down once, collecting the nodes of each
// side in order, then rebuilds both sides bottom-up; it never recurses, so
// an adversarially deep tree costs time but never stack.
func split(t *node, key []byte) (lo, hi *node) {
	var lbuf, hbuf [pathBuf]*node
	ls, hs := lbuf[:0], hbuf[:0]
	for t != nil {
		if bytes.Compare(t.key, key) < 0 {
			ls = append(ls, t)
			t = t.right
		} else {
			hs = append(hs, t)
			t = t.left
		}
	}
	for i := len(ls) - 1; i >= 0; i-- {
		lo = ls[i].with(ls[i].left, lo)
	}
	for i := len(hs) - 1; i >= 0; i-- {
		hi = hs[i].with(hi, hs[i].right)
	}
	return lo, hi
}

// join merges lo and hi, every key of lo being below every key of hi, into
// one treap: the inverse of split, also without recursion.
func join(lo, hi *node) *node {
	var buf [pathBuf]step
	path := buf[:0]
	for lo != nil && hi != nil {
		if outranks(&lo.kh, lo.key, &hi.kh, hi.key) {
			// lo stays on top; its right subtree joins hi.
			path = append(path, step{n: lo, left: false})
			lo = lo.right
		} else {
			path = append(path, step{n: hi, left: true})
			hi = hi.left
		}
	}
	rest := lo
	if rest == nil {
		rest = hi
	}
	return rebuild(path, rest)
}
