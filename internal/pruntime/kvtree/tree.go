package kvtree

import "bytes"

// Tree is one immutable version of a contract's storage. It is a small
// value (one pointer): copying it is how pRuntime keeps a version, Set and
// Delete return a new version and leave the receiver untouched, and any
// number of goroutines may read the same version concurrently without
// locks. The zero value is the empty tree.
type Tree struct {
	root *node
	seed *[32]byte // keys the priorities; nil: unkeyed (see Keyed)
}

// Keyed returns an empty tree whose shape is keyed by seed: two trees with
// the same contents and seed have the same shape and Root; nobody without
// the seed can choose keys that make it deep. pRuntime keys each
// contract's storage with a secret derived from the contract key, which
// the contract's code never sees.
func Keyed(seed [32]byte) Tree { return Tree{seed: &seed} }

// Get returns the value stored at key. The returned slice is shared with
// the tree (and with every version that still holds the entry): callers
// must not modify it.
func (t Tree) Get(key []byte) ([]byte, bool) {
	p := newProbe(key)
	for n := t.root; n != nil; {
		switch c := p.cmp(n); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.value, true
		}
	}
	return nil, false
}

// Set returns a version in which key holds a copy of value; the receiver
// is unchanged, and key and value may be reused by the caller as soon as
// Set returns. Setting the value a key already holds returns the receiver
// itself, allocating nothing. Set panics on an empty key: the empty key
// would be invisible to iteration by Next (which starts after the empty
// key), so callers must refuse it before they get here, as they refuse
// oversized keys.
func (t Tree) Set(key, value []byte) Tree {
	if len(key) == 0 {
		panic("kvtree: Set with an empty key")
	}
	kh := hashBytes(key)
	prio := prioOf(priority(t.seed, kh))
	p := newProbe(key)
	var buf [pathBuf]step
	path := buf[:0]
	n := t.root
	for n != nil {
		c := p.cmp(n)
		if c == 0 {
			if bytes.Equal(n.value, value) {
				return t
			}
			v := *n
			v.value = bytes.Clone(value)
			if v.value == nil {
				v.value = []byte{}
			}
			v.entry = entryHash(kh, value)
			v.seal()
			return Tree{rebuild(path, &v), t.seed}
		}
		// Every ancestor of key's node outranks it, so if key is present
		// the search reaches it before it meets a node key outranks: it
		// is absent, and the new node takes n's place.
		if outranks(t.seed, prio, key, n.prio, n.key) {
			break
		}
		path = append(path, step{n: n, left: c < 0})
		if c < 0 {
			n = n.left
		} else {
			n = n.right
		}
	}
	x := newNode(key, value, kh, prio)
	x.left, x.right = split(n, &p)
	x.seal()
	return Tree{rebuild(path, x), t.seed}
}

// Delete returns a version without key (the receiver itself when key is
// absent).
func (t Tree) Delete(key []byte) Tree {
	p := newProbe(key)
	var buf [pathBuf]step
	path := buf[:0]
	for n := t.root; n != nil; {
		c := p.cmp(n)
		if c == 0 {
			return Tree{rebuild(path, join(t.seed, n.left, n.right)), t.seed}
		}
		path = append(path, step{n: n, left: c < 0})
		if c < 0 {
			n = n.left
		} else {
			n = n.right
		}
	}
	return t
}

// Next returns the smallest key that starts with prefix and is greater
// than after; iterating from an empty after visits every key with the
// prefix in order. after need not be a key, and may sort before the prefix
// (the first key with the prefix is then the answer) or after all of its
// keys (there is then none). A key equal to prefix has the prefix. The
// returned slice is shared with the tree: callers must not modify it.
func (t Tree) Next(after, prefix []byte) ([]byte, bool) {
	// The keys with the prefix are one contiguous run, and every key of it
	// is >= prefix, so the answer, if any, is the ceiling of the larger of
	// the two bounds: "> after" or ">= prefix".
	bound, inclusive := after, false
	if bytes.Compare(after, prefix) < 0 {
		bound, inclusive = prefix, true
	}
	p := newProbe(bound)
	var best *node
	for n := t.root; n != nil; {
		if c := p.cmp(n); c < 0 || (c == 0 && inclusive) {
			best = n
			n = n.left
		} else {
			n = n.right
		}
	}
	if best == nil || !bytes.HasPrefix(best.key, prefix) {
		return nil, false
	}
	return best.key, true
}

// Root returns the Merkle root of the tree's contents; see the package
// documentation for its exact definition. It is cached, so Root is O(1).
func (t Tree) Root() [32]byte { return t.root.merkle() }

// Len returns the number of keys.
func (t Tree) Len() int { return t.root.count() }

// Ascend calls fn for every entry in increasing key order until fn returns
// false. The slices passed to fn are shared with the tree: fn must not
// modify them, and may keep them (they never change).
func (t Tree) Ascend(fn func(key, value []byte) bool) {
	var buf [pathBuf]*node
	stack := buf[:0]
	n := t.root
	for n != nil || len(stack) > 0 {
		for n != nil {
			stack = append(stack, n)
			n = n.left
		}
		n = stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !fn(n.key, n.value) {
			return
		}
		n = n.right
	}
}
