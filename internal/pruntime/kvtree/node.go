package kvtree

import (
	"bytes"
	"encoding/binary"
)

// node is immutable once sealed: every field is set when the node is built
// and never written again, which is what lets versions share nodes and lets
// readers on other goroutines walk them without locks. key and value are
// private copies owned by the tree.
//
// The fields a search reads at every level (key, children, key prefix,
// priority) come first and fill 64 bytes, so that a lookup mostly touches
// one or two cache lines per level and reaches the key's own bytes only
// when two keys share their first 16 bytes.
type node struct {
	key         []byte
	left, right *node
	pre         prefix // the key's first 16 bytes, see prefix
	prio        uint64 // the first 8 bytes of H(key), see outranks
	value       []byte
	entry       [32]byte // entryHash(H(key), value)
	hash        [32]byte // the Merkle hash of the subtree rooted here
	size        int      // number of nodes in the subtree rooted here
}

// prefix is a key's first 16 bytes, zero-padded, as two big-endian words.
// When two keys' prefixes differ they order the keys exactly as the keys
// themselves do (a shorter key padded with zeros either differs from the
// longer one at a real byte, or equals its start, and then a zero can
// only tie or lose); when they are equal the full keys decide.
type prefix [2]uint64

func prefixOf(k []byte) prefix {
	var b [16]byte
	copy(b[:], k)
	return prefix{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// probe is a key being searched for, with its prefix computed once per
// operation rather than once per level.
type probe struct {
	key []byte
	pre prefix
}

func newProbe(k []byte) probe { return probe{key: k, pre: prefixOf(k)} }

// cmp compares the probe's key with n's key, as bytes.Compare would.
func (p *probe) cmp(n *node) int {
	switch {
	case p.pre[0] != n.pre[0]:
		return cmpWord(p.pre[0], n.pre[0])
	case p.pre[1] != n.pre[1]:
		return cmpWord(p.pre[1], n.pre[1])
	}
	return bytes.Compare(p.key, n.key)
}

func cmpWord(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

// newNode builds an unsealed node for key and value, copying both into
// one allocation so that callers may reuse their buffers. The caller
// passes H(key) and the priority word it already needed for its search,
// so that neither is hashed twice (a keyed priority is a SHA-256 of its
// own).
func newNode(key, value []byte, kh [32]byte, prio uint64) *node {
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	k := buf[:len(key):len(key)]
	return &node{
		key:   k,
		value: buf[len(key):],
		pre:   prefixOf(k),
		prio:  prio,
		entry: entryHash(kh, value),
	}
}

// seal computes the size and hash from the children; it is the last write a
// node ever receives.
func (n *node) seal() {
	n.size = 1 + n.left.count() + n.right.count()
	n.hash = nodeHash(n.entry, n.left.merkle(), n.right.merkle())
}

// with returns a sealed copy of n (same entry) with new children: the one
// allocation path copying makes per node on the path.
func (n *node) with(left, right *node) *node {
	c := *n
	c.left, c.right = left, right
	c.seal()
	return &c
}

// count is the size of the subtree, 0 for nil.
func (n *node) count() int {
	if n == nil {
		return 0
	}
	return n.size
}

// merkle is the subtree's hash, 32 zero bytes for nil.
func (n *node) merkle() [32]byte {
	if n == nil {
		return [32]byte{}
	}
	return n.hash
}

// outranks reports whether a key with priority word aprio belongs above
// one with bprio. The priority (see priority) is read as a 256-bit
// big-endian integer, larger on top; nodes keep only its first word, and
// the rare tie on it (2^-64 per pair) is settled by recomputing both.
// Equal priorities, which would take a SHA-256 collision, put the smaller
// key on top, so the order is total and the shape unique.
func outranks(seed *[32]byte, aprio uint64, akey []byte, bprio uint64, bkey []byte) bool {
	if aprio != bprio {
		return aprio > bprio
	}
	ah, bh := priority(seed, hashBytes(akey)), priority(seed, hashBytes(bkey))
	if c := bytes.Compare(ah[:], bh[:]); c != 0 {
		return c > 0
	}
	return bytes.Compare(akey, bkey) < 0
}

// prioOf is the first word of a priority.
func prioOf(p [32]byte) uint64 { return binary.BigEndian.Uint64(p[:8]) }
