//go:build !wasip1

package contracttest

import (
	"bytes"
	"iter"
	"slices"
	"strings"
)

// Store is an in-memory contract state with the engine's Store semantics:
// byte keys in sorted order, so that Next (and hence a contract's
// iterations) behaves exactly as on a worker. It is not safe for
// concurrent use.
type Store struct {
	keys []string // sorted
	vals map[string][]byte
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{vals: map[string][]byte{}} }

// Get returns a copy of the value at key.
func (s *Store) Get(key []byte) ([]byte, bool) {
	v, ok := s.vals[string(key)]
	if !ok {
		return nil, false
	}
	return bytes.Clone(v), true
}

// Set stores a copy of value at key.
func (s *Store) Set(key, value []byte) {
	k := string(key)
	if _, ok := s.vals[k]; !ok {
		i, _ := slices.BinarySearch(s.keys, k)
		s.keys = slices.Insert(s.keys, i, k)
	}
	s.vals[k] = append([]byte{}, value...)
}

// Delete removes key; an absent key is no error.
func (s *Store) Delete(key []byte) {
	k := string(key)
	if _, ok := s.vals[k]; !ok {
		return
	}
	delete(s.vals, k)
	i, _ := slices.BinarySearch(s.keys, k)
	s.keys = slices.Delete(s.keys, i, i+1)
}

// Next returns the smallest key that has prefix and is greater than after.
func (s *Store) Next(after, prefix []byte) ([]byte, bool) {
	// The keys with prefix are contiguous from the first key >= prefix;
	// the answer is the first of them that is also > after.
	i, _ := slices.BinarySearch(s.keys, string(prefix))
	j, found := slices.BinarySearch(s.keys, string(after))
	if found {
		j++
	}
	i = max(i, j)
	if i < len(s.keys) && strings.HasPrefix(s.keys[i], string(prefix)) {
		return []byte(s.keys[i]), true
	}
	return nil, false
}

// Len returns the number of keys.
func (s *Store) Len() int { return len(s.keys) }

// All iterates over the keys and values in key order.
func (s *Store) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		for _, k := range s.keys {
			if !yield([]byte(k), bytes.Clone(s.vals[k])) {
				return
			}
		}
	}
}

// Clone returns an independent copy.
func (s *Store) Clone() *Store {
	c := &Store{keys: slices.Clone(s.keys), vals: make(map[string][]byte, len(s.vals))}
	for k, v := range s.vals {
		c.vals[k] = v // values are never modified in place
	}
	return c
}

// Equal reports whether both stores hold the same keys and values.
func (s *Store) Equal(o *Store) bool {
	if !slices.Equal(s.keys, o.keys) {
		return false
	}
	for k, v := range s.vals {
		if !bytes.Equal(v, o.vals[k]) {
			return false
		}
	}
	return true
}
