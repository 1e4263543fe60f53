//go:build !wasip1

package contracttest_test

import (
	"bytes"
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
	word := func() string {
		b := make([]byte, rng.IntN(4))
		for i := range b {
			b[i] = "ab\x00\xff"[rng.IntN(4)]
		}
		return string(b)
	}
	for round := range 200 {
		s := contracttest.NewStore()
		live := map[string]bool{}
		for range rng.IntN(30) {
			k := word()
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
			after, prefix := word(), word()
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
