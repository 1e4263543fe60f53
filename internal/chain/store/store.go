// Package store is the application's key-value layer: a KV interface over the
// IAVL tree, prefixed views that give each module its own key space, and
// write caches that make a transaction atomic.
//
// Storage failures (a broken disk under IAVL) are not returned as errors:
// they panic with a *Failure. A node cannot keep going deterministically
// after one, so FinalizeBlock lets it halt the node, while CheckTx and Query
// recover it into an internal error. This keeps module code about rules,
// not plumbing.
package store

import (
	"bytes"
	"errors"
	"fmt"
)

// KV is an ordered byte-key store. Get returns nil for an absent key.
// Values are never empty: ICS-23 cannot prove an empty value, and an entry
// it cannot prove also breaks the absence proofs of the keys next to it.
// An entry whose key says everything (an index) holds Mark().
type KV interface {
	Get(key []byte) []byte
	Set(key, value []byte)
	Delete(key []byte)
	// Iterate calls fn for each key in [start, end) in ascending order until
	// fn returns false. A nil start or end is unbounded. fn must not write
	// to the store.
	Iterate(start, end []byte, fn func(key, value []byte) bool)
}

// Mark is the value of an entry whose key says everything: one byte, since
// values are never empty.
func Mark() []byte { return []byte{1} }

// errEmptyValue refuses what no proof could cover.
var errEmptyValue = errors.New("empty value: ICS-23 proves no empty value; store store.Mark() for an index entry")

// Failure is the panic value of a storage failure.
type Failure struct{ Err error }

func (f *Failure) Error() string { return "store: " + f.Err.Error() }

// Fail panics with a *Failure wrapping err.
func Fail(op string, err error) {
	panic(&Failure{Err: fmt.Errorf("%s: %w", op, err)})
}

// prefixed is a view of parent under a key prefix.
type prefixed struct {
	parent KV
	prefix []byte
}

// Prefix returns the view of parent whose keys all start with prefix. Keys
// passed to and returned by the view omit the prefix.
func Prefix(parent KV, prefix []byte) KV {
	return &prefixed{parent: parent, prefix: append([]byte(nil), prefix...)}
}

func (p *prefixed) key(k []byte) []byte {
	out := make([]byte, 0, len(p.prefix)+len(k))
	return append(append(out, p.prefix...), k...)
}

func (p *prefixed) Get(k []byte) []byte { return p.parent.Get(p.key(k)) }
func (p *prefixed) Set(k, v []byte)     { p.parent.Set(p.key(k), v) }
func (p *prefixed) Delete(k []byte)     { p.parent.Delete(p.key(k)) }

func (p *prefixed) Iterate(start, end []byte, fn func(k, v []byte) bool) {
	s := p.key(start)
	var e []byte
	if end != nil {
		e = p.key(end)
	} else {
		e = PrefixEnd(p.prefix)
	}
	p.parent.Iterate(s, e, func(k, v []byte) bool {
		return fn(k[len(p.prefix):], v)
	})
}

// PrefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none (p is all 0xff).
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func inRange(k, start, end []byte) bool {
	return (start == nil || bytes.Compare(k, start) >= 0) && (end == nil || bytes.Compare(k, end) < 0)
}
