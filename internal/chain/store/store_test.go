package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"

	"github.com/phala-go/phala/internal/chain/store"
)

// kvPair is one key/value seen by Iterate.
type kvPair struct{ k, v string }

// collect returns what kv.Iterate(start, end) yields, in order.
func collect(kv store.KV, start, end []byte) []kvPair {
	var out []kvPair
	kv.Iterate(start, end, func(k, v []byte) bool {
		out = append(out, kvPair{string(k), string(v)})
		return true
	})
	return out
}

// memWith returns a Mem holding the given keys, each with value "p:"+key.
func memWith(keys ...string) *store.Mem {
	m := store.NewMem()
	for _, k := range keys {
		m.Set([]byte(k), []byte("p:"+k))
	}
	return m
}

func b(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func TestCacheReadsSeeBufferedWritesAndParentIsUntouched(t *testing.T) {
	parent := memWith("a", "b")
	c := store.NewCache(parent)
	c.Set([]byte("a"), []byte("new"))
	c.Set([]byte("z"), []byte("added"))

	for k, want := range map[string]string{"a": "new", "b": "p:b", "z": "added"} {
		if got := c.Get([]byte(k)); string(got) != want {
			t.Errorf("cache Get(%q) = %q, want %q", k, got, want)
		}
	}
	if got := parent.Get([]byte("a")); string(got) != "p:a" {
		t.Errorf("parent Get(a) = %q before Write, want p:a", got)
	}
	if got := parent.Get([]byte("z")); got != nil {
		t.Errorf("parent Get(z) = %q before Write, want absent", got)
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
}

func TestCacheSetCopiesTheValue(t *testing.T) {
	c := store.NewCache(store.NewMem())
	v := []byte("value")
	c.Set([]byte("k"), v)
	v[0] = 'X'
	if got := c.Get([]byte("k")); string(got) != "value" {
		t.Fatalf("Get = %q after caller changed its slice, want value", got)
	}
}

// TestEmptyValuesAreRefused: no store takes an empty value — ICS-23
// proves none, and an unprovable entry breaks the absence proofs of its
// neighbours — and a refused Set changes nothing.
func TestEmptyValuesAreRefused(t *testing.T) {
	for _, v := range [][]byte{nil, {}} {
		for name, kv := range map[string]store.KV{
			"cache": store.NewCache(store.NewMem()),
			"mem":   store.NewMem(),
			"tree":  store.Tree{T: newTree(t)},
		} {
			t.Run(fmt.Sprintf("%s/nil=%v", name, v == nil), func(t *testing.T) {
				defer func() {
					f, ok := recover().(*store.Failure)
					if !ok || !strings.Contains(f.Err.Error(), "empty value") {
						t.Fatalf("Set of an empty value: recovered %v, want a storage failure", f)
					}
					if kv.Get([]byte("k")) != nil {
						t.Fatal("a refused Set stored something")
					}
				}()
				kv.Set([]byte("k"), v)
			})
		}
	}
	if m := store.Mark(); len(m) == 0 {
		t.Fatal("Mark is empty")
	}
}

func TestCacheDeleteHidesParentKey(t *testing.T) {
	parent := memWith("a", "b", "c")
	c := store.NewCache(parent)
	c.Delete([]byte("b"))

	if got := c.Get([]byte("b")); got != nil {
		t.Fatalf("Get(b) = %q after Delete, want absent", got)
	}
	if got, want := collect(c, nil, nil), []kvPair{{"a", "p:a"}, {"c", "p:c"}}; !slices.Equal(got, want) {
		t.Fatalf("Iterate = %v, want %v", got, want)
	}
	if parent.Get([]byte("b")) == nil {
		t.Fatal("parent lost b before Write")
	}
	c.Write()
	if got := parent.Get([]byte("b")); got != nil {
		t.Fatalf("parent Get(b) = %q after Write, want absent", got)
	}
}

func TestCacheSetAfterDeleteRevivesKey(t *testing.T) {
	c := store.NewCache(memWith("a"))
	c.Delete([]byte("a"))
	c.Set([]byte("a"), []byte("back"))
	if got := c.Get([]byte("a")); string(got) != "back" {
		t.Fatalf("Get(a) = %q, want back", got)
	}
}

// mergeFixture is a parent {a, c, e, g} under a cache that adds b and d,
// overwrites c, deletes e and adds h: the merged view is a b c d g h.
func mergeFixture() *store.Cache {
	c := store.NewCache(memWith("a", "c", "e", "g"))
	c.Set([]byte("h"), []byte("h'"))
	c.Set([]byte("d"), []byte("d'"))
	c.Set([]byte("c"), []byte("c'"))
	c.Delete([]byte("e"))
	c.Set([]byte("b"), []byte("b'"))
	c.Delete([]byte("x")) // deleting an absent key changes nothing
	return c
}

var mergedView = []kvPair{{"a", "p:a"}, {"b", "b'"}, {"c", "c'"}, {"d", "d'"}, {"g", "p:g"}, {"h", "h'"}}

func TestCacheIterateMergesParentAndBufferInOrder(t *testing.T) {
	if got := collect(mergeFixture(), nil, nil); !slices.Equal(got, mergedView) {
		t.Fatalf("Iterate = %v\nwant      %v", got, mergedView)
	}
}

func TestCacheIterateHonoursBounds(t *testing.T) {
	cases := []struct {
		start, end string // "" is unbounded
		want       []kvPair
	}{
		{"", "", mergedView},
		{"b", "", mergedView[1:]},
		{"bb", "", mergedView[2:]},
		{"", "d", mergedView[:3]},
		{"", "dd", mergedView[:4]},
		{"c", "g", mergedView[2:4]},
		{"e", "f", nil}, // only the deleted key lies in range
		{"d", "d", nil},
		{"h", "", mergedView[5:]},
		{"i", "", nil},
		{"", "a", nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("[%s,%s)", tc.start, tc.end), func(t *testing.T) {
			got := collect(mergeFixture(), b(tc.start), b(tc.end))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Iterate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCacheIterateStopsWhenCallbackReturnsFalse(t *testing.T) {
	// Stopping after every possible count covers a stop while emitting a
	// parent key, a buffered key between parent keys and a buffered key
	// after the parent is exhausted.
	for n := 1; n <= len(mergedView); n++ {
		var got []kvPair
		mergeFixture().Iterate(nil, nil, func(k, v []byte) bool {
			got = append(got, kvPair{string(k), string(v)})
			return len(got) < n
		})
		if !slices.Equal(got, mergedView[:n]) {
			t.Errorf("stop after %d: got %v, want %v", n, got, mergedView[:n])
		}
	}
}

// recorder is a parent KV that logs the writes it receives.
type recorder struct {
	*store.Mem
	log []string
}

func (r *recorder) Set(k, v []byte) { r.log = append(r.log, "set "+string(k)); r.Mem.Set(k, v) }
func (r *recorder) Delete(k []byte) { r.log = append(r.log, "del "+string(k)); r.Mem.Delete(k) }

func TestCacheWriteAppliesInSortedKeyOrder(t *testing.T) {
	parent := &recorder{Mem: memWith("b", "d")}
	c := store.NewCache(parent)
	for _, k := range []string{"e", "a", "c", "aa", "0"} {
		c.Set([]byte(k), []byte(k+"'"))
	}
	c.Delete([]byte("d"))
	c.Delete([]byte("b"))
	c.Set([]byte("b"), []byte("b'")) // the last write to a key wins
	c.Delete([]byte("c"))

	c.Write()

	want := []string{"set 0", "set a", "set aa", "set b", "del c", "del d", "set e"}
	if !slices.Equal(parent.log, want) {
		t.Fatalf("parent received %v\nwant %v", parent.log, want)
	}
	if c.Len() != 0 {
		t.Fatalf("Len = %d after Write, want 0", c.Len())
	}
	wantState := []kvPair{{"0", "0'"}, {"a", "a'"}, {"aa", "aa'"}, {"b", "b'"}, {"e", "e'"}}
	if got := collect(parent, nil, nil); !slices.Equal(got, wantState) {
		t.Fatalf("parent after Write = %v, want %v", got, wantState)
	}
	if got := collect(c, nil, nil); !slices.Equal(got, wantState) {
		t.Fatalf("cache after Write = %v, want the parent's %v", got, wantState)
	}
}

func TestDroppedCacheChangesNothing(t *testing.T) {
	parent := &recorder{Mem: memWith("a")}
	c := store.NewCache(parent)
	c.Set([]byte("b"), []byte("x"))
	c.Delete([]byte("a"))
	_ = c // dropped without Write
	if len(parent.log) != 0 {
		t.Fatalf("parent received %v without Write", parent.log)
	}
}

func TestPrefixIsolatesKeySpaces(t *testing.T) {
	m := store.NewMem()
	a, bb := store.Prefix(m, []byte("a/")), store.Prefix(m, []byte("b/"))
	a.Set([]byte("k"), []byte("in a"))
	bb.Set([]byte("k"), []byte("in b"))

	if got := a.Get([]byte("k")); string(got) != "in a" {
		t.Errorf("a.Get(k) = %q", got)
	}
	if got := bb.Get([]byte("k")); string(got) != "in b" {
		t.Errorf("b.Get(k) = %q", got)
	}
	if got := m.Get([]byte("a/k")); string(got) != "in a" {
		t.Errorf("parent Get(a/k) = %q, want the prefixed key", got)
	}
	a.Delete([]byte("k"))
	if a.Get([]byte("k")) != nil || string(bb.Get([]byte("k"))) != "in b" {
		t.Errorf("Delete in a: a=%q b=%q, want a absent, b kept", a.Get([]byte("k")), bb.Get([]byte("k")))
	}
}

func TestPrefixIteratesOnlyItsPrefix(t *testing.T) {
	// '0' is '/'+1: "a0" is the first key after the "a/" space.
	m := memWith("a", "a.", "a/", "a/x", "a/y", "a/y/z", "a0", "b/x")
	v := store.Prefix(m, []byte("a/"))
	want := []kvPair{{"", "p:a/"}, {"x", "p:a/x"}, {"y", "p:a/y"}, {"y/z", "p:a/y/z"}}
	if got := collect(v, nil, nil); !slices.Equal(got, want) {
		t.Fatalf("Iterate = %v, want %v", got, want)
	}
	if got := collect(v, []byte("x"), []byte("y/")); !slices.Equal(got, want[1:3]) {
		t.Fatalf("Iterate[x, y/) = %v, want %v", got, want[1:3])
	}
	if got := collect(v, []byte("y"), nil); !slices.Equal(got, want[2:]) {
		t.Fatalf("Iterate[y, ∞) = %v, want %v", got, want[2:])
	}
}

func TestPrefixEndingInFFIteratesOnlyItsPrefix(t *testing.T) {
	cases := []struct {
		prefix     string
		keys, want []string // want: keys seen through the view, prefix removed
	}{
		{"\x01\xff", []string{"\x01\xfe", "\x01\xff", "\x01\xff\xff\x00", "\x02", "\x02\x00"}, []string{"", "\xff\x00"}},
		{"\xff\xff", []string{"\xff", "\xff\xfe\xff", "\xff\xff", "\xff\xff\xff", "\xff\xff\x00"}, []string{"", "\x00", "\xff"}},
		{"", []string{"", "\x00", "\xff"}, []string{"", "\x00", "\xff"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%x", tc.prefix), func(t *testing.T) {
			v := store.Prefix(memWith(tc.keys...), []byte(tc.prefix))
			var got []string
			for _, p := range collect(v, nil, nil) {
				got = append(got, p.k)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("keys = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNestedPrefixesEqualTheirConcatenation(t *testing.T) {
	m := memWith("abx", "aby", "ac", "b")
	nested := store.Prefix(store.Prefix(m, []byte("a")), []byte("b"))
	flat := store.Prefix(m, []byte("ab"))
	if got, want := collect(nested, nil, nil), collect(flat, nil, nil); !slices.Equal(got, want) || len(got) != 2 {
		t.Fatalf("nested = %v, flat = %v", got, want)
	}
}

func TestPrefixKeepsItsOwnCopyOfThePrefix(t *testing.T) {
	m := store.NewMem()
	p := []byte("a/")
	v := store.Prefix(m, p)
	p[0] = 'z'
	v.Set([]byte("k"), []byte("v"))
	if m.Get([]byte("a/k")) == nil {
		t.Fatal("view wrote outside its prefix after the caller reused its slice")
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := []struct {
		in   []byte
		want []byte // nil: no upper bound
	}{
		{nil, nil},
		{[]byte{}, nil},
		{[]byte("a"), []byte("b")},
		{[]byte("a/"), []byte("a0")},
		{[]byte{0x00}, []byte{0x01}},
		{[]byte{0xfe}, []byte{0xff}},
		{[]byte{0xff}, nil},
		{[]byte{0xff, 0xff, 0xff}, nil},
		{[]byte{0x01, 0xff}, []byte{0x02}},
		{[]byte{0x00, 0xff, 0xff}, []byte{0x01}},
		{[]byte{'a', 0xff, 'c'}, []byte{'a', 0xff, 'd'}},
		{[]byte{0xff, 0x00}, []byte{0xff, 0x01}},
	}
	for _, tc := range cases {
		in := bytes.Clone(tc.in)
		got := store.PrefixEnd(in)
		if !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("PrefixEnd(%x) = %x (nil %v), want %x (nil %v)", tc.in, got, got == nil, tc.want, tc.want == nil)
		}
		if !bytes.Equal(in, tc.in) {
			t.Errorf("PrefixEnd(%x) modified its argument to %x", tc.in, in)
		}
	}
}

// TestCacheMatchesMapModel runs random writes through two stacked caches over
// a Mem and checks every read and iteration against a plain map.
func TestCacheMatchesMapModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0x00, 0x01, 'a', 0xfe, 0xff}
	randKey := func() []byte {
		k := make([]byte, rng.IntN(4))
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return k
	}
	randBound := func() []byte {
		if rng.IntN(4) == 0 {
			return nil
		}
		return randKey()
	}

	base := store.NewMem()
	mid := store.NewCache(base)
	top := store.NewCache(mid)
	model := map[string]string{}

	for op := range 5000 {
		switch r := rng.IntN(100); {
		case r < 45:
			k, v := randKey(), fmt.Sprint(op)
			top.Set(k, []byte(v))
			model[string(k)] = v
		case r < 70:
			k := randKey()
			top.Delete(k)
			delete(model, string(k))
		case r < 74:
			top.Write()
		case r < 76:
			top.Write()
			mid.Write()
			if got, want := collect(base, nil, nil), sortedModel(model, nil, nil); !slices.Equal(got, want) {
				t.Fatalf("op %d: base after Write = %v, want %v", op, got, want)
			}
		case r < 90:
			k := randKey()
			got := top.Get(k)
			want, ok := model[string(k)]
			if (got != nil) != ok || string(got) != want {
				t.Fatalf("op %d: Get(%x) = %q, model has %q (present %v)", op, k, got, want, ok)
			}
		default:
			start, end := randBound(), randBound()
			want := sortedModel(model, start, end)
			limit := len(want) + 1
			if rng.IntN(2) == 0 {
				limit = rng.IntN(len(want) + 1)
			}
			var got []kvPair
			top.Iterate(start, end, func(k, v []byte) bool {
				got = append(got, kvPair{string(k), string(v)})
				return len(got) < limit
			})
			if limit < len(want) {
				want = want[:max(limit, 1)]
			}
			if !slices.Equal(got, want) {
				t.Fatalf("op %d: Iterate[%x, %x) stop %d = %v\nwant %v", op, start, end, limit, got, want)
			}
		}
	}
}

func sortedModel(model map[string]string, start, end []byte) []kvPair {
	var out []kvPair
	for _, k := range slices.Sorted(maps.Keys(model)) {
		if (start == nil || k >= string(start)) && (end == nil || k < string(end)) {
			out = append(out, kvPair{k, model[k]})
		}
	}
	return out
}

func newTree(t *testing.T) *iavl.MutableTree {
	t.Helper()
	return iavl.NewMutableTree(idb.NewWrapper(dbm.NewMemDB()), 1000, false, iavl.NewNopLogger())
}

func TestTreeAndSnapshotOverIAVL(t *testing.T) {
	mt := newTree(t)
	tree := store.Tree{T: mt}

	// A transaction's cache, written to the tree, then committed.
	c := store.NewCache(store.Prefix(tree, []byte("m/")))
	for _, k := range []string{"c", "a", "b", "d"} {
		c.Set([]byte(k), []byte(k+"1"))
	}
	c.Write()
	tree.Set([]byte("z"), []byte("outside"))
	tree.Delete([]byte("m/d"))

	want := []kvPair{{"m/a", "a1"}, {"m/b", "b1"}, {"m/c", "c1"}, {"z", "outside"}}
	if got := collect(tree, nil, nil); !slices.Equal(got, want) {
		t.Fatalf("tree before commit = %v, want %v", got, want)
	}
	if _, _, err := mt.SaveVersion(); err != nil {
		t.Fatal(err)
	}
	imm, err := mt.GetImmutable(1)
	if err != nil {
		t.Fatal(err)
	}
	snap := store.Snapshot{T: imm}

	// Changes after the commit are invisible to the snapshot.
	tree.Set([]byte("m/a"), []byte("a2"))
	tree.Delete([]byte("m/b"))
	tree.Set([]byte("m/e"), []byte("e2"))

	if got := collect(snap, nil, nil); !slices.Equal(got, want) {
		t.Fatalf("snapshot = %v, want %v", got, want)
	}
	if got := snap.Get([]byte("m/a")); string(got) != "a1" {
		t.Fatalf("snapshot Get(m/a) = %q, want a1", got)
	}
	if got := snap.Get([]byte("m/e")); got != nil {
		t.Fatalf("snapshot Get(m/e) = %q, want absent", got)
	}
	if got, w := collect(store.Prefix(snap, []byte("m/")), []byte("b"), nil), []kvPair{{"b", "b1"}, {"c", "c1"}}; !slices.Equal(got, w) {
		t.Fatalf("snapshot prefix from b = %v, want %v", got, w)
	}
	wantTree := []kvPair{{"m/a", "a2"}, {"m/c", "c1"}, {"m/e", "e2"}, {"z", "outside"}}
	if got := collect(tree, nil, nil); !slices.Equal(got, wantTree) {
		t.Fatalf("tree = %v, want %v", got, wantTree)
	}
	if got := collect(tree, []byte("m/b"), []byte("m/e")); !slices.Equal(got, wantTree[1:2]) {
		t.Fatalf("tree [m/b, m/e) = %v, want %v", got, wantTree[1:2])
	}

	// CheckTx's shape: a cache over the snapshot buffers writes.
	cc := store.NewCache(snap)
	cc.Set([]byte("m/a"), []byte("checked"))
	if got := cc.Get([]byte("m/a")); string(got) != "checked" {
		t.Fatalf("cache over snapshot Get = %q", got)
	}
}

func TestSnapshotWritesPanicWithFailure(t *testing.T) {
	mt := newTree(t)
	if _, _, err := mt.SaveVersion(); err != nil {
		t.Fatal(err)
	}
	imm, err := mt.GetImmutable(1)
	if err != nil {
		t.Fatal(err)
	}
	snap := store.Snapshot{T: imm}
	for name, write := range map[string]func(){
		"set":          func() { snap.Set([]byte("k"), []byte("v")) },
		"delete":       func() { snap.Delete([]byte("k")) },
		"cache write":  func() { c := store.NewCache(snap); c.Set([]byte("k"), []byte("v")); c.Write() },
		"prefixed set": func() { store.Prefix(snap, []byte("p")).Set([]byte("k"), []byte("v")) },
	} {
		t.Run(name, func(t *testing.T) {
			f := catchFailure(write)
			if f == nil {
				t.Fatal("write to a snapshot did not panic with *store.Failure")
			}
			if f.Err == nil || !strings.Contains(f.Error(), "read-only") {
				t.Fatalf("failure %q does not say the snapshot is read-only", f.Error())
			}
		})
	}
}

func TestFailWrapsItsError(t *testing.T) {
	cause := errors.New("disk on fire")
	f := catchFailure(func() { store.Fail("get", cause) })
	if f == nil || !errors.Is(f.Err, cause) || f.Error() != "store: get: disk on fire" {
		t.Fatalf("Fail panicked with %#v", f)
	}
}

// catchFailure runs fn and returns the *store.Failure it panicked with, or nil
// if it returned normally. Any other panic propagates.
func catchFailure(fn func()) (f *store.Failure) {
	defer func() {
		if r := recover(); r != nil {
			var ok bool
			if f, ok = r.(*store.Failure); !ok {
				panic(r)
			}
		}
	}()
	fn()
	return nil
}
