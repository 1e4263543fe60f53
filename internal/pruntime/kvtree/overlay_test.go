package kvtree

import "testing"

// store is the contract engine's storage interface, restated here so that
// the compiler checks both handles satisfy it without importing the engine.
type store interface {
	Get(key []byte) ([]byte, bool)
	Set(key, value []byte)
	Delete(key []byte)
	Next(after, prefix []byte) ([]byte, bool)
}

var (
	_ store = (*Overlay)(nil)
	_ store = ReadOnly{}
)

func TestOverlayWritesNeverReachTheBaseVersion(t *testing.T) {
	base := build(t, model{"a": "1", "b": "2"})
	root := base.Root()
	o := NewOverlay(base)
	o.Set([]byte("c"), []byte("3"))
	o.Delete([]byte("a"))
	o.Set([]byte("b"), []byte("two"))
	if v, ok := o.Get([]byte("b")); !ok || string(v) != "two" {
		t.Fatalf("overlay does not read its own write: Get(b) = %q, %v", v, ok)
	}
	if _, ok := o.Get([]byte("a")); ok {
		t.Fatalf("overlay still sees the key it deleted")
	}
	if k, ok := o.Next([]byte("a"), nil); !ok || string(k) != "b" {
		t.Fatalf("overlay Next(a) = %q, %v; want b", k, ok)
	}
	assertMatches(t, base, model{"a": "1", "b": "2"})
	if base.Root() != root {
		t.Fatalf("base root changed")
	}
	assertMatches(t, o.Tree(), model{"b": "two", "c": "3"})
}

func TestOverlayTreeIsASnapshot(t *testing.T) {
	o := NewOverlay(Tree{})
	o.Set([]byte("a"), []byte("1"))
	first := o.Tree()
	o.Set([]byte("a"), []byte("2"))
	o.Set([]byte("b"), []byte("3"))
	assertMatches(t, first, model{"a": "1"})
	assertMatches(t, o.Tree(), model{"a": "2", "b": "3"})
}

func TestReadOnlyReadsAndRefusesWrites(t *testing.T) {
	base := build(t, model{"a": "1", "b": "2"})
	r := NewReadOnly(base)
	if v, ok := r.Get([]byte("a")); !ok || string(v) != "1" {
		t.Fatalf("ReadOnly Get(a) = %q, %v", v, ok)
	}
	if k, ok := r.Next([]byte("a"), nil); !ok || string(k) != "b" {
		t.Fatalf("ReadOnly Next(a) = %q, %v", k, ok)
	}
	for name, write := range map[string]func(){
		"Set":    func() { r.Set([]byte("c"), []byte("3")) },
		"Delete": func() { r.Delete([]byte("a")) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ReadOnly %s did not panic", name)
				}
			}()
			write()
		}()
	}
	assertMatches(t, base, model{"a": "1", "b": "2"})
}
