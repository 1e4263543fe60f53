package kvtree

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestCachedPrefixOrdersKeysAsBytesCompare(t *testing.T) {
	// Keys around the 16-byte boundary, made of the bytes that break
	// zero-padding schemes (0x00 against a shorter key) and of the
	// extremes; pairs often share long starts.
	r := rand.New(rand.NewPCG(5, 5))
	const alphabet = "\x00\x01\x7f\x80\xff"
	randKey := func(maxLen int) []byte {
		k := make([]byte, r.IntN(maxLen+1))
		for i := range k {
			k[i] = alphabet[r.IntN(len(alphabet))]
		}
		return k
	}
	for range 100_000 {
		a := randKey(19)
		b := append(bytes.Clone(a[:r.IntN(len(a)+1)]), randKey(3)...)
		if r.IntN(2) == 0 {
			a, b = b, a
		}
		p := newProbe(a)
		n := &node{key: b, pre: prefixOf(b)}
		if got, want := p.cmp(n), bytes.Compare(a, b); got != want {
			t.Fatalf("cmp(%x, %x) = %d, bytes.Compare says %d", a, b, got, want)
		}
	}
}
