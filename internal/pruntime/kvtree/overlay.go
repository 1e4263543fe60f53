package kvtree

// Overlay is the mutable handle the contract engine gives one contract
// call: it starts from a committed version and accumulates the call's
// writes as new versions, never touching the one it started from. To keep
// the writes, take Tree(); to discard them (the call failed, ran out of
// gas, or its block is rolled back), drop the Overlay. An Overlay is for
// one goroutine; the Trees it returns may be shared freely.
//
// Its methods have the signatures of the engine's storage interface
// (Get, Set, Delete, Next), which is declared by the engine, not here.
type Overlay struct{ t Tree }

// NewOverlay returns an overlay whose reads see t until the first write.
func NewOverlay(t Tree) *Overlay { return &Overlay{t: t} }

// Get returns the value at key as the call's writes so far left it. The
// slice is shared: the caller must not modify it.
func (o *Overlay) Get(key []byte) ([]byte, bool) { return o.t.Get(key) }

// Set stores a copy of value at key; the caller may reuse both buffers.
// It panics on an empty key, as Tree.Set does.
func (o *Overlay) Set(key, value []byte) { o.t = o.t.Set(key, value) }

// Delete removes key; removing an absent key does nothing.
func (o *Overlay) Delete(key []byte) { o.t = o.t.Delete(key) }

// Next is Tree.Next on the overlay's current version.
func (o *Overlay) Next(after, prefix []byte) ([]byte, bool) { return o.t.Next(after, prefix) }

// Tree returns the version holding every write made so far. The overlay
// stays usable, and later writes do not affect the returned version.
func (o *Overlay) Tree() Tree { return o.t }

// ReadOnly is the storage handle for queries: reads of one fixed version,
// which stays consistent while sync commits newer ones. Queries must not
// write; the engine refuses storage_set and storage_delete in a query
// (trap "read-only") before reaching storage, so Set and Delete here only
// panic, as a last line of defence against an engine bug that would
// otherwise let a query's write vanish silently.
type ReadOnly struct{ t Tree }

// NewReadOnly returns a read-only view of t.
func NewReadOnly(t Tree) ReadOnly { return ReadOnly{t: t} }

// Get is Tree.Get.
func (r ReadOnly) Get(key []byte) ([]byte, bool) { return r.t.Get(key) }

// Next is Tree.Next.
func (r ReadOnly) Next(after, prefix []byte) ([]byte, bool) { return r.t.Next(after, prefix) }

// Set panics: see ReadOnly.
func (r ReadOnly) Set(key, value []byte) { panic("kvtree: Set on a read-only view") }

// Delete panics: see ReadOnly.
func (r ReadOnly) Delete(key []byte) { panic("kvtree: Delete on a read-only view") }
