//go:build !wasip1

package contracttest

import (
	"bytes"
	"iter"

	"github.com/phala-go/phala/internal/pruntime/kvtree"
)

// Store is a contract's state: a version of the same persistent tree a
// worker keeps contract storage in (internal/pruntime/kvtree), so that
// Next, and hence a contract's iterations, behave exactly as on a worker,
// and the empty key is refused the same way (Set panics on it, as the
// worker's tree does; the engine traps before a call could get there).
// Clone is O(1) and Equal compares Merkle roots. It is not safe for
// concurrent use.
//
// The tree is unkeyed, where a worker's is keyed with a secret seed: the
// seed only changes the tree's shape, which nothing a contract observes
// depends on, and without it the root is a function of the contents
// alone, so stores of any two instances compare.
type Store struct {
	t kvtree.Tree
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{} }

// Get returns a copy of the value at key.
func (s *Store) Get(key []byte) ([]byte, bool) {
	v, ok := s.t.Get(key)
	if !ok {
		return nil, false
	}
	return bytes.Clone(v), true
}

// Set stores a copy of value at key. It panics on the empty key, which
// no store holds (see Store).
func (s *Store) Set(key, value []byte) { s.t = s.t.Set(key, value) }

// Delete removes key; an absent key is no error.
func (s *Store) Delete(key []byte) { s.t = s.t.Delete(key) }

// Next returns the smallest key that has prefix and is greater than after.
func (s *Store) Next(after, prefix []byte) ([]byte, bool) {
	k, ok := s.t.Next(after, prefix)
	return bytes.Clone(k), ok
}

// Len returns the number of keys.
func (s *Store) Len() int { return s.t.Len() }

// All iterates over the keys and values in key order; both are copies.
func (s *Store) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		s.t.Ascend(func(k, v []byte) bool { return yield(bytes.Clone(k), bytes.Clone(v)) })
	}
}

// Clone returns an independent copy, in O(1): the versions share the
// tree's immutable nodes.
func (s *Store) Clone() *Store { return &Store{t: s.t} }

// Equal reports whether both stores hold the same keys and values (their
// roots are equal).
func (s *Store) Equal(o *Store) bool { return s.t.Root() == o.t.Root() }
