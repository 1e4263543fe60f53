package node

import (
	"errors"
	"sync"

	dbm "github.com/cometbft/cometbft-db"
	cfg "github.com/cometbft/cometbft/config"
)

// ErrClosed is what a write to one of the node's databases returns once
// the database is closed. CometBFT v1.0.1 leaves goroutines running after
// Node.Stop that may still reach its databases: the tx IndexerService's
// (it writes each block's index from a goroutine nobody waits for), the
// consensus reactor's per-peer gossip routines (they read the block store
// after a sleep, before looking whether the reactor still runs), the
// pruner's, and RPC handlers on connections still open. pebble panics on a
// closed database, which kills the process. Instead, a closed database
// refuses writes with ErrClosed (the indexer and pruner log it) and reads
// as empty: every read path of CometBFT handles a missing key (pruning
// makes them common), while it panics on a read error.
var ErrClosed = errors.New("node: database closed")

// dbTracker is the node's DB provider: it remembers every database it
// opens so that Stop can close those CometBFT forgets (the tx index), and
// gates each one so that nothing reaches it once closed.
type dbTracker struct {
	mu  sync.Mutex
	dbs []*gatedDB
}

func (t *dbTracker) provider(ctx *cfg.DBContext) (dbm.DB, error) {
	db, err := cfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	g := &gatedDB{db: db, iters: map[*gatedIterator]struct{}{}}
	t.mu.Lock()
	t.dbs = append(t.dbs, g)
	t.mu.Unlock()
	return g, nil
}

// closeAll closes every database opened through the tracker. When it
// returns, no operation on any of them is under way; later writes fail
// with ErrClosed and later reads find nothing.
func (t *dbTracker) closeAll() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, d := range t.dbs {
		errs = append(errs, d.Close())
	}
	t.dbs = nil
	return errors.Join(errs...)
}

// gatedDB wraps a database so that closing it waits for the operations
// under way, and later ones never reach it: writes fail with ErrClosed,
// reads find nothing (see ErrClosed for why). Close is
// idempotent (CometBFT closes some databases itself, and pebble panics on
// a second Close). Each operation holds the read lock only while it runs,
// never across calls, so that nothing nests it.
type gatedDB struct {
	db     dbm.DB
	mu     sync.RWMutex
	closed bool
	err    error // Close's result

	itersMu sync.Mutex
	iters   map[*gatedIterator]struct{} // open iterators, closed before the database
}

var _ dbm.DB = (*gatedDB)(nil)

// enter takes the read lock unless the database is closed; a true result
// must be paired with mu.RUnlock.
func (g *gatedDB) enter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

func (g *gatedDB) Get(key []byte) ([]byte, error) {
	if !g.enter() {
		return nil, nil
	}
	defer g.mu.RUnlock()
	return g.db.Get(key)
}

func (g *gatedDB) Has(key []byte) (bool, error) {
	if !g.enter() {
		return false, nil
	}
	defer g.mu.RUnlock()
	return g.db.Has(key)
}

func (g *gatedDB) Set(key, value []byte) error {
	if !g.enter() {
		return ErrClosed
	}
	defer g.mu.RUnlock()
	return g.db.Set(key, value)
}

func (g *gatedDB) SetSync(key, value []byte) error {
	if !g.enter() {
		return ErrClosed
	}
	defer g.mu.RUnlock()
	return g.db.SetSync(key, value)
}

func (g *gatedDB) Delete(key []byte) error {
	if !g.enter() {
		return ErrClosed
	}
	defer g.mu.RUnlock()
	return g.db.Delete(key)
}

func (g *gatedDB) DeleteSync(key []byte) error {
	if !g.enter() {
		return ErrClosed
	}
	defer g.mu.RUnlock()
	return g.db.DeleteSync(key)
}

func (g *gatedDB) Iterator(start, end []byte) (dbm.Iterator, error) {
	return g.iterator(func() (dbm.Iterator, error) { return g.db.Iterator(start, end) })
}

func (g *gatedDB) ReverseIterator(start, end []byte) (dbm.Iterator, error) {
	return g.iterator(func() (dbm.Iterator, error) { return g.db.ReverseIterator(start, end) })
}

func (g *gatedDB) iterator(open func() (dbm.Iterator, error)) (dbm.Iterator, error) {
	if !g.enter() {
		return &gatedIterator{g: g}, nil // invalid from the start
	}
	defer g.mu.RUnlock()
	it, err := open()
	if err != nil {
		return nil, err
	}
	gi := &gatedIterator{g: g, it: it}
	g.itersMu.Lock()
	g.iters[gi] = struct{}{}
	g.itersMu.Unlock()
	return gi, nil
}

func (g *gatedDB) NewBatch() dbm.Batch {
	if !g.enter() {
		return closedBatch{}
	}
	defer g.mu.RUnlock()
	return &gatedBatch{g: g, b: g.db.NewBatch()}
}

func (g *gatedDB) Print() error {
	if !g.enter() {
		return nil
	}
	defer g.mu.RUnlock()
	return g.db.Print()
}

func (g *gatedDB) Stats() map[string]string {
	if !g.enter() {
		return map[string]string{}
	}
	defer g.mu.RUnlock()
	return g.db.Stats()
}

func (g *gatedDB) Compact(start, end []byte) error {
	if !g.enter() {
		return ErrClosed
	}
	defer g.mu.RUnlock()
	return g.db.Compact(start, end)
}

// Close waits for the operations under way, closes the iterators still
// open (pebble reports them as leaked otherwise), then the database.
func (g *gatedDB) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return g.err
	}
	g.closed = true
	var errs []error
	g.itersMu.Lock()
	for it := range g.iters {
		errs = append(errs, it.it.Close())
	}
	clear(g.iters)
	g.itersMu.Unlock()
	g.err = errors.Join(append(errs, g.db.Close())...)
	return g.err
}

// gatedBatch is a batch of a gatedDB: it reaches the database only while
// the database is open.
type gatedBatch struct {
	g *gatedDB
	b dbm.Batch
}

func (b *gatedBatch) Set(key, value []byte) error {
	if !b.g.enter() {
		return ErrClosed
	}
	defer b.g.mu.RUnlock()
	return b.b.Set(key, value)
}

func (b *gatedBatch) Delete(key []byte) error {
	if !b.g.enter() {
		return ErrClosed
	}
	defer b.g.mu.RUnlock()
	return b.b.Delete(key)
}

func (b *gatedBatch) Write() error {
	if !b.g.enter() {
		return ErrClosed
	}
	defer b.g.mu.RUnlock()
	return b.b.Write()
}

func (b *gatedBatch) WriteSync() error {
	if !b.g.enter() {
		return ErrClosed
	}
	defer b.g.mu.RUnlock()
	return b.b.WriteSync()
}

// Close releases the batch. Once the database is closed the batch is left
// to the garbage collector: releasing it may reach the closed database.
func (b *gatedBatch) Close() error {
	if !b.g.enter() {
		return nil
	}
	defer b.g.mu.RUnlock()
	return b.b.Close()
}

// closedBatch is the batch of a closed database.
type closedBatch struct{}

func (closedBatch) Set([]byte, []byte) error { return ErrClosed }
func (closedBatch) Delete([]byte) error      { return ErrClosed }
func (closedBatch) Write() error             { return ErrClosed }
func (closedBatch) WriteSync() error         { return ErrClosed }
func (closedBatch) Close() error             { return nil }

// gatedIterator is an iterator of a gatedDB. Once the database is closed
// (which closes the iterator beneath) it is exhausted: Valid is false, Key
// and Value are nil, Next does nothing and Error is nil. it is nil for an
// iterator opened after the close.
type gatedIterator struct {
	g  *gatedDB
	it dbm.Iterator
}

func (i *gatedIterator) Domain() ([]byte, []byte) {
	if i.it == nil {
		return nil, nil
	}
	return i.it.Domain()
}

func (i *gatedIterator) Valid() bool {
	if !i.g.enter() {
		return false
	}
	defer i.g.mu.RUnlock()
	return i.it.Valid()
}

func (i *gatedIterator) Next() {
	if !i.g.enter() {
		return
	}
	defer i.g.mu.RUnlock()
	i.it.Next()
}

func (i *gatedIterator) Key() []byte {
	if !i.g.enter() {
		return nil
	}
	defer i.g.mu.RUnlock()
	return i.it.Key()
}

func (i *gatedIterator) Value() []byte {
	if !i.g.enter() {
		return nil
	}
	defer i.g.mu.RUnlock()
	return i.it.Value()
}

func (i *gatedIterator) Error() error {
	if !i.g.enter() {
		return nil
	}
	defer i.g.mu.RUnlock()
	return i.it.Error()
}

func (i *gatedIterator) Close() error {
	if !i.g.enter() {
		return nil // closed with the database
	}
	defer i.g.mu.RUnlock()
	i.g.itersMu.Lock()
	_, open := i.g.iters[i]
	delete(i.g.iters, i)
	i.g.itersMu.Unlock()
	if !open {
		return nil
	}
	return i.it.Close()
}
