package store

// Mem is an in-memory KV, for tests of code that reads and writes a store.
type Mem struct{ c *Cache }

// NewMem returns an empty in-memory store.
func NewMem() *Mem { return &Mem{c: NewCache(empty{})} }

// Get implements KV.
func (m *Mem) Get(k []byte) []byte { return m.c.Get(k) }

// Set implements KV.
func (m *Mem) Set(k, v []byte) { m.c.Set(k, v) }

// Delete implements KV.
func (m *Mem) Delete(k []byte) { delete(m.c.dirty, string(k)) }

// Iterate implements KV.
func (m *Mem) Iterate(start, end []byte, fn func(k, v []byte) bool) { m.c.Iterate(start, end, fn) }

type empty struct{}

func (empty) Get([]byte) []byte                             { return nil }
func (empty) Set(_, _ []byte)                               {}
func (empty) Delete([]byte)                                 {}
func (empty) Iterate(_, _ []byte, _ func(_, _ []byte) bool) {}
