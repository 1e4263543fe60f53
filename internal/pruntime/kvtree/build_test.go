package kvtree

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestBuildRefusesBadLists(t *testing.T) {
	e := func(k string) Entry { return Entry{Key: []byte(k), Value: []byte("v")} }
	cases := []struct {
		name    string
		entries []Entry
		want    error
		index   int
	}{
		{"empty first key", []Entry{e(""), e("a")}, ErrEmptyKey, 0},
		{"empty key later", []Entry{e("a"), {Key: nil}}, ErrEmptyKey, 1},
		{"duplicate key", []Entry{e("a"), e("b"), e("b")}, ErrNotIncreasing, 2},
		{"decreasing keys", []Entry{e("b"), e("a")}, ErrNotIncreasing, 1},
		{"prefix after its extension", []Entry{e("ab"), e("a")}, ErrNotIncreasing, 1},
	}
	for _, c := range cases {
		tr, err := Tree{}.Build(c.entries)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
			continue
		}
		if at := fmt.Sprintf("at entry %d of %d", c.index, len(c.entries)); !strings.Contains(err.Error(), at) {
			t.Errorf("%s: error %q does not name %q", c.name, err, at)
		}
		if tr.Len() != 0 || tr.root != nil {
			t.Errorf("%s: a refused list still built %d entries", c.name, tr.Len())
		}
	}
}

func TestBuildOfNothingIsTheEmptyTree(t *testing.T) {
	for _, es := range [][]Entry{nil, {}} {
		tr, err := Tree{}.Build(es)
		if err != nil || tr.root != nil {
			t.Fatalf("Tree{}.Build(%v) = %v, %v; want the empty tree", es, tr, err)
		}
	}
}

func TestBuildCopiesItsInput(t *testing.T) {
	buf := []byte("k1v1k2v2")
	es := []Entry{{Key: buf[0:2], Value: buf[2:4]}, {Key: buf[4:6], Value: buf[6:8]}}
	tr, err := Tree{}.Build(es)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	copy(buf, "XXXXXXXX")
	assertMatches(t, tr, model{"k1": "v1", "k2": "v2"})
}

func TestBuildThenUpdatesMatchTheModel(t *testing.T) {
	for _, kd := range kinds() {
		t.Run(kd.name, func(t *testing.T) { buildThenUpdates(t, kd.empty) })
	}
}

func buildThenUpdates(t *testing.T, empty Tree) {
	m := model{}
	for i := range 1000 {
		m[fmt.Sprintf("%04d", i*7%1000)] = fmt.Sprint(i)
	}
	tr := buildFrom(t, empty, m)
	assertMatches(t, tr, m)
	for i := range 1000 {
		k := fmt.Sprintf("%04d", i*13%1500)
		if i%3 == 0 {
			tr = tr.Delete([]byte(k))
			delete(m, k)
		} else {
			tr = tr.Set([]byte(k), []byte("u"))
			m[k] = "u"
		}
	}
	assertMatches(t, tr, m)
}
