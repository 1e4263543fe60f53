//go:build !wasip1

package contracttest_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/phala-go/phala/contractsdk/contracttest"
	"github.com/phala-go/phala/internal/pruntime/contract"
)

var _ contract.Store = (*contracttest.Store)(nil)

// next is the definition of Store.Next, by brute force.
func next(keys []string, after, prefix string) (string, bool) {
	slices.Sort(keys)
	for _, k := range keys {
		if k > after && strings.HasPrefix(k, prefix) {
			return k, true
		}
	}
	return "", false
}

func TestStoreNextIsTheSmallestKeyWithThePrefixAfterAfter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// word is 0..3 bytes, for bounds; keys are 1..3 (no store holds the
	// empty key).
	word := func(least int) string {
		b := make([]byte, least+rng.IntN(4-least))
		for i := range b {
			b[i] = "ab\x00\xff"[rng.IntN(4)]
		}
		return string(b)
	}
	for round := range 200 {
		s := contracttest.NewStore()
		live := map[string]bool{}
		for range rng.IntN(30) {
			k := word(1)
			if rng.IntN(4) == 0 {
				s.Delete([]byte(k))
				delete(live, k)
			} else {
				s.Set([]byte(k), []byte(k))
				live[k] = true
			}
		}
		var keys []string
		for k := range live {
			keys = append(keys, k)
		}
		if s.Len() != len(keys) {
			t.Fatalf("round %d: Len %d, want %d", round, s.Len(), len(keys))
		}
		for range 20 {
			after, prefix := word(0), word(0)
			got, ok := s.Next([]byte(after), []byte(prefix))
			want, wantOK := next(keys, after, prefix)
			if ok != wantOK || string(got) != want {
				t.Fatalf("round %d: Next(%q, %q) = %q %v, want %q %v (keys %q)", round, after, prefix, got, ok, want, wantOK, keys)
			}
		}
	}
}

func TestStoreKeepsCopiesAndClonesAreIndependent(t *testing.T) {
	s := contracttest.NewStore()
	k, v := []byte("k"), []byte("v1")
	s.Set(k, v)
	k[0], v[0] = 'x', 'x'
	if got, ok := s.Get([]byte("k")); !ok || string(got) != "v1" {
		t.Fatalf("Set kept the caller's slices: %q %v", got, ok)
	}
	got, _ := s.Get([]byte("k"))
	got[0] = 'x'
	if again, _ := s.Get([]byte("k")); string(again) != "v1" {
		t.Fatal("Get returned the stored slice")
	}
	c := s.Clone()
	if !c.Equal(s) {
		t.Fatal("clone differs")
	}
	c.Set([]byte("k"), []byte("v2"))
	c.Set([]byte("n"), nil)
	if got, _ := s.Get([]byte("k")); string(got) != "v1" || s.Len() != 1 {
		t.Fatal("writing the clone changed the original")
	}
	if c.Equal(s) || s.Equal(c) {
		t.Fatal("different stores are Equal")
	}
	same := contracttest.NewStore()
	same.Set([]byte("n"), []byte("x"))
	same.Set([]byte("k"), []byte("v2"))
	same.Set([]byte("n"), nil)
	if !same.Equal(c) {
		t.Fatal("stores with the same contents, reached in another order, are not Equal")
	}
	next, _ := c.Next(nil, nil)
	next[0] = 'x'
	if again, _ := c.Next(nil, nil); string(again) != "k" {
		t.Fatal("Next returned the stored key")
	}
	s.Delete([]byte("absent"))
	var all []string
	for k, v := range c.All() {
		all = append(all, string(k)+"="+string(v))
	}
	if !slices.Equal(all, []string{"k=v2", "n="}) {
		t.Fatalf("All: %q", all)
	}
	if v, ok := c.Get([]byte("n")); !ok || v == nil || !bytes.Equal(v, []byte{}) {
		t.Fatalf("an empty value is present and empty: %q %v", v, ok)
	}
}

// TestStoreRefusesTheEmptyKeyAsAWorkersDoes: the engine traps on the
// empty key before reaching the store, so a Set of it is a bug and
// panics, as the worker's tree does; reads and deletes find nothing.
func TestStoreRefusesTheEmptyKeyAsAWorkersDoes(t *testing.T) {
	s := contracttest.NewStore()
	s.Set([]byte("a"), []byte("1"))
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "empty key") {
				t.Errorf("Set of the empty key: recovered %v, want a panic naming the empty key", r)
			}
		}()
		s.Set(nil, []byte("v"))
	}()
	if v, ok := s.Get(nil); ok {
		t.Fatalf("the empty key holds %q", v)
	}
	s.Delete([]byte{})
	if k, ok := s.Next(nil, nil); s.Len() != 1 || !ok || string(k) != "a" {
		t.Fatalf("after the refused Set: %d keys, first %q %v", s.Len(), k, ok)
	}
}
