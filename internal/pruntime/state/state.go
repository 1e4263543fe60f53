// Package state gives pRuntime's in-memory state its transactions: tables
// and cells whose changes since the last commit can be dropped as a whole.
// dispatch applies each block inside one transaction, so a block that fails
// any check leaves every table exactly as it was.
package state

import (
	"cmp"
	"maps"
	"slices"
)

type part interface {
	commit()
	rollback()
}

// Tx groups the tables and cells that change together.
type Tx struct{ parts []part }

// Commit keeps every change since the last Commit or Rollback.
func (t *Tx) Commit() {
	for _, p := range t.parts {
		p.commit()
	}
}

// Rollback drops every change since the last Commit or Rollback.
func (t *Tx) Rollback() {
	for _, p := range t.parts {
		p.rollback()
	}
}

// Map is a transactional map with ordered keys (so its contents encode
// deterministically).
type Map[K cmp.Ordered, V any] struct {
	m       map[K]V
	pending map[K]*V // nil: deleted
}

// NewMap returns an empty map whose changes belong to tx.
func NewMap[K cmp.Ordered, V any](tx *Tx) *Map[K, V] {
	m := &Map[K, V]{m: map[K]V{}, pending: map[K]*V{}}
	tx.parts = append(tx.parts, m)
	return m
}

// Get returns the value at k, seeing uncommitted changes.
func (m *Map[K, V]) Get(k K) (V, bool) {
	if p, ok := m.pending[k]; ok {
		if p == nil {
			var zero V
			return zero, false
		}
		return *p, true
	}
	v, ok := m.m[k]
	return v, ok
}

// Set stores v at k.
func (m *Map[K, V]) Set(k K, v V) { m.pending[k] = &v }

// Delete removes k.
func (m *Map[K, V]) Delete(k K) { m.pending[k] = nil }

func (m *Map[K, V]) commit() {
	for k, p := range m.pending {
		if p == nil {
			delete(m.m, k)
		} else {
			m.m[k] = *p
		}
	}
	clear(m.pending)
}

func (m *Map[K, V]) rollback() { clear(m.pending) }

// Keys returns the keys in order as Get sees them: committed keys with
// uncommitted additions and deletions applied. Use it while a block is
// being applied.
func (m *Map[K, V]) Keys() []K {
	keys := make(map[K]struct{}, len(m.m)+len(m.pending))
	for k := range m.m {
		keys[k] = struct{}{}
	}
	for k, p := range m.pending {
		if p == nil {
			delete(keys, k)
		} else {
			keys[k] = struct{}{}
		}
	}
	return slices.Sorted(maps.Keys(keys))
}

// CommittedKeys returns the committed keys in order: what readers between
// blocks (snapshots, API answers) see.
func (m *Map[K, V]) CommittedKeys() []K { return slices.Sorted(maps.Keys(m.m)) }

// Snapshot returns a copy of the committed contents.
func (m *Map[K, V]) Snapshot() map[K]V { return maps.Clone(m.m) }

// CommittedGet reads the committed value only.
func (m *Map[K, V]) CommittedGet(k K) (V, bool) {
	v, ok := m.m[k]
	return v, ok
}

// Len is the number of committed entries.
func (m *Map[K, V]) Len() int { return len(m.m) }

// Load replaces the committed contents (restoring a checkpoint).
func (m *Map[K, V]) Load(entries map[K]V) {
	m.m = maps.Clone(entries)
	if m.m == nil {
		m.m = map[K]V{}
	}
	clear(m.pending)
}

// Cell is a transactional single value.
type Cell[T any] struct {
	v, pending T
	dirty      bool
}

// NewCell returns a cell holding v whose changes belong to tx.
func NewCell[T any](tx *Tx, v T) *Cell[T] {
	c := &Cell[T]{v: v}
	tx.parts = append(tx.parts, c)
	return c
}

// Get returns the value, seeing an uncommitted change.
func (c *Cell[T]) Get() T {
	if c.dirty {
		return c.pending
	}
	return c.v
}

// Committed returns the committed value.
func (c *Cell[T]) Committed() T { return c.v }

// Set changes the value.
func (c *Cell[T]) Set(v T) { c.pending, c.dirty = v, true }

// Load replaces the committed value (restoring a checkpoint).
func (c *Cell[T]) Load(v T) { c.v, c.dirty = v, false }

func (c *Cell[T]) commit() {
	if c.dirty {
		c.v, c.dirty = c.pending, false
	}
}

func (c *Cell[T]) rollback() {
	var zero T
	c.pending, c.dirty = zero, false
}
