package node

import (
	"errors"
	"testing"

	cfg "github.com/cometbft/cometbft/config"
)

// TestClosedDatabaseRefusesUseInsteadOfPanicking drives a real pebble
// database of the node's provider as CometBFT's goroutines that outlive
// Node.Stop do: a batch prepared before Stop and written after it (the tx
// IndexerService), an iterator opened before and read after (an RPC
// handler), plain reads (the consensus reactor's gossip) and writes after.
// pebble panics on each; the node's databases refuse writes with
// ErrClosed and read as empty.
func TestClosedDatabaseRefusesUseInsteadOfPanicking(t *testing.T) {
	c := cfg.DefaultConfig()
	c.SetRoot(t.TempDir())
	var dbs dbTracker
	db, err := dbs.provider(&cfg.DBContext{ID: "tx_index", Config: c})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := db.Set([]byte(k), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	batch := db.NewBatch()
	if err := batch.Set([]byte("d"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	it, err := db.Iterator(nil, nil)
	if err != nil || !it.Valid() {
		t.Fatalf("iterator: %v", err)
	}

	if err := dbs.closeAll(); err != nil {
		t.Fatalf("close with an iterator open: %v", err)
	}

	for name, write := range map[string]func() error{
		"batch write":     batch.WriteSync,
		"batch set":       func() error { return batch.Set([]byte("e"), []byte("v")) },
		"new batch write": func() error { return db.NewBatch().Write() },
		"set":             func() error { return db.Set([]byte("e"), []byte("v")) },
		"delete":          func() error { return db.DeleteSync([]byte("a")) },
	} {
		if err := write(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after close: %v, want ErrClosed", name, err)
		}
	}
	// Reads find nothing, without an error CometBFT would panic on.
	if v, err := db.Get([]byte("a")); v != nil || err != nil {
		t.Errorf("get after close: %q, %v", v, err)
	}
	if ok, err := db.Has([]byte("a")); ok || err != nil {
		t.Errorf("has after close: %v, %v", ok, err)
	}
	later, err := db.ReverseIterator(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range []interface {
		Valid() bool
		Key() []byte
		Value() []byte
		Next()
		Error() error
		Close() error
	}{it, later} {
		if it.Valid() || it.Key() != nil || it.Value() != nil || it.Error() != nil {
			t.Error("an iterator of a closed database is not exhausted")
		}
		it.Next()
		if err := it.Close(); err != nil {
			t.Error(err)
		}
	}
	if err := batch.Close(); err != nil {
		t.Error(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}
