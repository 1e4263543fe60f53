package state_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/phala-go/phala/internal/pruntime/state"
)

// committed is a map whose committed content is {a:1, b:2}.
func committed(t *testing.T) (*state.Tx, *state.Map[string, int]) {
	t.Helper()
	var tx state.Tx
	m := state.NewMap[string, int](&tx)
	m.Set("b", 2)
	m.Set("a", 1)
	tx.Commit()
	return &tx, m
}

func wantGet(t *testing.T, what string, v int, ok bool, wantV int, wantOK bool) {
	t.Helper()
	if v != wantV || ok != wantOK {
		t.Errorf("%s = %d, %v; want %d, %v", what, v, ok, wantV, wantOK)
	}
}

func TestMapGetSeesPendingChanges(t *testing.T) {
	_, m := committed(t)
	m.Set("a", 10)
	m.Set("c", 3)
	m.Delete("b")

	v, ok := m.Get("a")
	wantGet(t, `Get("a")`, v, ok, 10, true)
	v, ok = m.Get("c")
	wantGet(t, `Get("c")`, v, ok, 3, true)
	v, ok = m.Get("b")
	wantGet(t, `Get("b") after Delete`, v, ok, 0, false)
}

func TestMapCommittedReadsIgnorePendingChanges(t *testing.T) {
	_, m := committed(t)
	m.Set("a", 10)
	m.Set("c", 3)
	m.Delete("b")

	v, ok := m.CommittedGet("a")
	wantGet(t, `CommittedGet("a")`, v, ok, 1, true)
	v, ok = m.CommittedGet("b")
	wantGet(t, `CommittedGet("b")`, v, ok, 2, true)
	v, ok = m.CommittedGet("c")
	wantGet(t, `CommittedGet("c")`, v, ok, 0, false)
	if got := m.CommittedKeys(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("CommittedKeys() = %q, want [a b]", got)
	}
	if got := m.Keys(); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("Keys() = %q, want the pending view [a c]", got)
	}
	if got, want := m.Snapshot(), map[string]int{"a": 1, "b": 2}; !maps.Equal(got, want) {
		t.Errorf("Snapshot() = %v, want %v", got, want)
	}
	if m.Len() != 2 {
		t.Errorf("Len() = %d, want 2", m.Len())
	}
}

func TestMapCommitKeepsEveryPendingChange(t *testing.T) {
	tx, m := committed(t)
	m.Set("a", 10)
	m.Set("c", 3)
	m.Delete("b")
	tx.Commit()

	if got, want := m.Snapshot(), map[string]int{"a": 10, "c": 3}; !maps.Equal(got, want) {
		t.Errorf("Snapshot() after Commit = %v, want %v", got, want)
	}
	if got := m.Keys(); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("Keys() after Commit = %q, want [a c]", got)
	}
	// Nothing is left pending: a Rollback now changes nothing.
	tx.Rollback()
	if got, want := m.Snapshot(), map[string]int{"a": 10, "c": 3}; !maps.Equal(got, want) {
		t.Errorf("Snapshot() after Commit, Rollback = %v, want %v", got, want)
	}
}

func TestMapRollbackDropsEveryPendingChange(t *testing.T) {
	tx, m := committed(t)
	m.Set("a", 10)
	m.Set("c", 3)
	m.Delete("b")
	tx.Rollback()

	for _, c := range []struct {
		k    string
		v    int
		want bool
	}{{"a", 1, true}, {"b", 2, true}, {"c", 0, false}} {
		v, ok := m.Get(c.k)
		wantGet(t, "Get("+c.k+") after Rollback", v, ok, c.v, c.want)
	}
	// And the dropped changes do not come back with the next Commit.
	tx.Commit()
	if got, want := m.Snapshot(), map[string]int{"a": 1, "b": 2}; !maps.Equal(got, want) {
		t.Errorf("Snapshot() after Rollback, Commit = %v, want %v", got, want)
	}
}

func TestMapDeleteThenRollbackRestoresTheEntry(t *testing.T) {
	tx, m := committed(t)
	m.Delete("a")
	if _, ok := m.Get("a"); ok {
		t.Fatal(`Get("a") after Delete still finds it`)
	}
	tx.Rollback()
	v, ok := m.Get("a")
	wantGet(t, `Get("a") after Delete, Rollback`, v, ok, 1, true)
}

func TestMapSetAfterDeleteInOneTxWins(t *testing.T) {
	tx, m := committed(t)
	m.Delete("a")
	m.Set("a", 7)
	tx.Commit()
	v, ok := m.CommittedGet("a")
	wantGet(t, `CommittedGet("a")`, v, ok, 7, true)

	m.Set("a", 8)
	m.Delete("a")
	tx.Commit()
	if _, ok := m.CommittedGet("a"); ok {
		t.Error(`CommittedGet("a") finds a key whose last change was Delete`)
	}
}

func TestMapKeysAreOrdered(t *testing.T) {
	var tx state.Tx
	m := state.NewMap[uint64, string](&tx)
	for _, k := range []uint64{9, 1, 1 << 40, 0, 5} {
		m.Set(k, "x")
	}
	tx.Commit()
	if got, want := m.Keys(), []uint64{0, 1, 5, 9, 1 << 40}; !slices.Equal(got, want) {
		t.Errorf("Keys() = %v, want %v", got, want)
	}
}

func TestMapSnapshotIsACopy(t *testing.T) {
	tx, m := committed(t)
	s := m.Snapshot()
	s["a"] = 100
	delete(s, "b")
	if got, want := m.Snapshot(), map[string]int{"a": 1, "b": 2}; !maps.Equal(got, want) {
		t.Errorf("changing a snapshot changed the map: %v, want %v", got, want)
	}
	m.Set("z", 26)
	tx.Commit()
	if _, ok := s["z"]; ok {
		t.Error("a commit changed an earlier snapshot")
	}
}

func TestMapLoadReplacesContentAndDropsPending(t *testing.T) {
	tx, m := committed(t)
	m.Set("pending", 1)
	m.Delete("a")
	src := map[string]int{"x": 24, "y": 25}
	m.Load(src)

	if got := m.Snapshot(); !maps.Equal(got, src) {
		t.Errorf("Snapshot() after Load = %v, want %v", got, src)
	}
	if _, ok := m.Get("pending"); ok {
		t.Error("a change pending before Load is still visible")
	}
	tx.Commit()
	if got := m.Snapshot(); !maps.Equal(got, src) {
		t.Errorf("a change pending before Load was committed: %v, want %v", got, src)
	}
	src["x"] = 0
	if v, _ := m.Get("x"); v != 24 {
		t.Error("Load keeps a reference to its argument")
	}
}

func TestMapLoadNilEmptiesTheMap(t *testing.T) {
	tx, m := committed(t)
	m.Load(nil)
	if m.Len() != 0 {
		t.Fatalf("Len() after Load(nil) = %d", m.Len())
	}
	m.Set("a", 1) // must not panic on a nil map
	tx.Commit()
	v, ok := m.CommittedGet("a")
	wantGet(t, `CommittedGet("a")`, v, ok, 1, true)
}

func TestCellGetSeesPendingCommittedDoesNot(t *testing.T) {
	var tx state.Tx
	c := state.NewCell(&tx, "initial")
	c.Set("pending")
	if c.Get() != "pending" {
		t.Errorf("Get() = %q, want pending", c.Get())
	}
	if c.Committed() != "initial" {
		t.Errorf("Committed() = %q, want initial", c.Committed())
	}
}

func TestCellCommitAndRollback(t *testing.T) {
	tests := []struct {
		name      string
		ops       func(tx *state.Tx, c *state.Cell[int])
		committed int
	}{
		{"commit keeps the last set", func(tx *state.Tx, c *state.Cell[int]) { c.Set(2); c.Set(3); tx.Commit() }, 3},
		{"rollback drops the change", func(tx *state.Tx, c *state.Cell[int]) { c.Set(2); tx.Rollback() }, 1},
		{"commit without a change keeps the value", func(tx *state.Tx, c *state.Cell[int]) { tx.Commit() }, 1},
		{"rolled-back change does not come back", func(tx *state.Tx, c *state.Cell[int]) { c.Set(2); tx.Rollback(); tx.Commit() }, 1},
		{"set to the zero value commits", func(tx *state.Tx, c *state.Cell[int]) { c.Set(0); tx.Commit() }, 0},
		{"load replaces and drops pending", func(tx *state.Tx, c *state.Cell[int]) { c.Set(2); c.Load(9); tx.Commit() }, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tx state.Tx
			c := state.NewCell(&tx, 1)
			tt.ops(&tx, c)
			if c.Committed() != tt.committed || c.Get() != tt.committed {
				t.Errorf("Committed() = %d, Get() = %d; want %d", c.Committed(), c.Get(), tt.committed)
			}
		})
	}
}

func TestTxCommitsAndRollsBackEveryPartTogether(t *testing.T) {
	var tx state.Tx
	a := state.NewMap[string, int](&tx)
	b := state.NewMap[int, string](&tx)
	c := state.NewCell(&tx, uint64(0))

	a.Set("x", 1)
	b.Set(1, "x")
	c.Set(1)
	tx.Rollback()
	if a.Len() != 0 || b.Len() != 0 || c.Get() != 0 {
		t.Fatalf("after Rollback: a %v, b %v, c %d; want all empty", a.Snapshot(), b.Snapshot(), c.Get())
	}

	a.Set("x", 1)
	b.Set(1, "x")
	c.Set(1)
	tx.Commit()
	if a.Len() != 1 || b.Len() != 1 || c.Committed() != 1 {
		t.Fatalf("after Commit: a %v, b %v, c %d; want one change each", a.Snapshot(), b.Snapshot(), c.Committed())
	}
}

func TestSeparateTxsDoNotAffectEachOther(t *testing.T) {
	var tx1, tx2 state.Tx
	m1 := state.NewMap[string, int](&tx1)
	m2 := state.NewMap[string, int](&tx2)
	m1.Set("a", 1)
	m2.Set("a", 2)
	tx1.Commit()
	tx2.Rollback()
	if m1.Len() != 1 || m2.Len() != 0 {
		t.Errorf("m1 has %d entries, m2 %d; want 1 and 0", m1.Len(), m2.Len())
	}
}
