package store

import (
	"errors"

	"github.com/cosmos/iavl"
)

// Tree is the KV view of the mutable IAVL tree the application commits.
type Tree struct{ T *iavl.MutableTree }

// Get implements KV.
func (t Tree) Get(k []byte) []byte {
	v, err := t.T.Get(k)
	if err != nil {
		Fail("get", err)
	}
	return v
}

// Set implements KV.
func (t Tree) Set(k, v []byte) {
	if len(v) == 0 {
		Fail("set", errEmptyValue)
	}
	if _, err := t.T.Set(k, v); err != nil {
		Fail("set", err)
	}
}

// Delete implements KV.
func (t Tree) Delete(k []byte) {
	if _, _, err := t.T.Remove(k); err != nil {
		Fail("delete", err)
	}
}

// Iterate implements KV.
func (t Tree) Iterate(start, end []byte, fn func(k, v []byte) bool) {
	it, err := t.T.Iterator(start, end, true)
	if err != nil {
		Fail("iterate", err)
	}
	iterate(it, fn)
}

// Snapshot is the read-only KV view of one committed IAVL version, used by
// CheckTx and queries while the next block is being built.
type Snapshot struct{ T *iavl.ImmutableTree }

// Get implements KV.
func (s Snapshot) Get(k []byte) []byte {
	v, err := s.T.Get(k)
	if err != nil {
		Fail("get", err)
	}
	return v
}

// Set panics: a snapshot is read-only; write through a Cache.
func (s Snapshot) Set(_, _ []byte) { Fail("set", errReadOnly) }

// Delete panics: a snapshot is read-only; write through a Cache.
func (s Snapshot) Delete(_ []byte) { Fail("delete", errReadOnly) }

// Iterate implements KV.
func (s Snapshot) Iterate(start, end []byte, fn func(k, v []byte) bool) {
	it, err := s.T.Iterator(start, end, true)
	if err != nil {
		Fail("iterate", err)
	}
	iterate(it, fn)
}

var errReadOnly = errors.New("snapshot is read-only")

type iterator interface {
	Valid() bool
	Next()
	Key() []byte
	Value() []byte
	Error() error
	Close() error
}

func iterate(it iterator, fn func(k, v []byte) bool) {
	defer it.Close()
	for ; it.Valid(); it.Next() {
		if !fn(it.Key(), it.Value()) {
			return
		}
	}
	if err := it.Error(); err != nil {
		Fail("iterate", err)
	}
}
