package kvtree

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

// split divides t into the nodes with keys below p's key and those above
// it; the key must not be in t. It walks down once, collecting the nodes
// of each side in order, then rebuilds both sides bottom-up; it never
// recurses, so an adversarially deep tree costs time but never stack.
func split(t *node, p *probe) (lo, hi *node) {
	var lbuf, hbuf [pathBuf]*node
	ls, hs := lbuf[:0], hbuf[:0]
	for t != nil {
		if p.cmp(t) > 0 {
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
func join(seed *[32]byte, lo, hi *node) *node {
	var buf [pathBuf]step
	path := buf[:0]
	for lo != nil && hi != nil {
		if outranks(seed, lo.prio, lo.key, hi.prio, hi.key) {
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
