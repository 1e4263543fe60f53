package kvtree

import (
	"bytes"
	"errors"
	"fmt"
)

// Entry is one key and its value, as a snapshot or checkpoint lists them.
type Entry struct{ Key, Value []byte }

// Errors Build refuses a list with; they are wrapped with the index of
// the offending entry.
var (
	// ErrEmptyKey: the tree never holds the empty key (see Tree.Set).
	ErrEmptyKey = errors.New("kvtree: empty key")
	// ErrNotIncreasing: keys must be strictly increasing, which also
	// rules out duplicates, so that a list has exactly one meaning.
	ErrNotIncreasing = errors.New("kvtree: keys not strictly increasing")
)

// Build returns the tree keyed like t (see Keyed) holding exactly entries,
// whose keys must be non-empty and strictly increasing; t's contents are
// ignored. It is how a worker rebuilds contract state from a state
// transfer or a checkpoint, in O(n) rather than the O(n log n) of n Sets,
// and yields the same tree (hence the same Root) as any sequence of
// updates that reaches the same contents under the same seed. Keys and
// values are copied, so entries may alias a buffer the caller reuses. On
// error nothing is built.
func (t Tree) Build(entries []Entry) (Tree, error) {
	// The classic linear Cartesian-tree construction: keep the right
	// spine on a stack; each new (largest so far) key pops the spine nodes
	// it outranks, adopts the last of them as its left child and becomes
	// the right child of the node left on top. A popped node's subtree is
	// final, so it is sealed right there, deepest first.
	var spine []*node
	for i, e := range entries {
		if len(e.Key) == 0 {
			return Tree{}, fmt.Errorf("%w at entry %d of %d", ErrEmptyKey, i, len(entries))
		}
		if i > 0 && bytes.Compare(entries[i-1].Key, e.Key) >= 0 {
			// No key in the message: contract keys are confidential.
			return Tree{}, fmt.Errorf("%w at entry %d of %d", ErrNotIncreasing, i, len(entries))
		}
		kh := hashBytes(e.Key)
		x := newNode(e.Key, e.Value, kh, prioOf(priority(t.seed, kh)))
		var last *node
		for len(spine) > 0 {
			top := spine[len(spine)-1]
			if !outranks(t.seed, x.prio, x.key, top.prio, top.key) {
				break
			}
			top.seal()
			last = top
			spine = spine[:len(spine)-1]
		}
		x.left = last
		if len(spine) > 0 {
			spine[len(spine)-1].right = x
		}
		spine = append(spine, x)
	}
	for i := len(spine) - 1; i >= 0; i-- {
		spine[i].seal()
	}
	if len(spine) == 0 {
		return Tree{seed: t.seed}, nil
	}
	return Tree{spine[0], t.seed}, nil
}
