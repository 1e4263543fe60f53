package runner

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/phala-go/phala/internal/pruntime/kvtree"
	"github.com/phala-go/phala/internal/wasm/abi"
)

// A contract's storage travels (in checkpoints and state transfers) as one
// byte string: for each entry in key order, uvarint len(key), key, uvarint
// len(value), value. One string rather than a CBOR array of entries,
// because canonical CBOR decoding caps arrays at 65,536 elements and a
// contract's storage has no such cap: a token with more holders could be
// neither restored nor transferred. Decoding it costs memory in
// proportion to the string: entries point into it.

// storageOf encodes t's entries.
func storageOf(t kvtree.Tree) []byte {
	var out []byte
	t.Ascend(func(k, v []byte) bool {
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		out = binary.AppendUvarint(out, uint64(len(v)))
		out = append(out, v...)
		return true
	})
	return out
}

// errStorage is a storage encoding that is not one storageOf produces.
var errStorage = errors.New("storage encoding")

// treeOf rebuilds the tree storageOf encoded, under seed. It refuses what
// no contract can have stored: an empty key, a key over abi.MaxKeyBytes, a
// value over abi.MaxValueBytes, keys out of order or repeated, a
// truncated entry.
func treeOf(seed []byte, enc []byte) (kvtree.Tree, error) {
	if len(seed) != 32 {
		return kvtree.Tree{}, fmt.Errorf("storage seed of %d bytes", len(seed))
	}
	var es []kvtree.Entry
	for len(enc) > 0 {
		k, rest, err := storageField(enc, abi.MaxKeyBytes)
		if err != nil {
			return kvtree.Tree{}, fmt.Errorf("%w: key of entry %d: %v", errStorage, len(es), err)
		}
		v, rest, err := storageField(rest, abi.MaxValueBytes)
		if err != nil {
			return kvtree.Tree{}, fmt.Errorf("%w: value of entry %d: %v", errStorage, len(es), err)
		}
		es = append(es, kvtree.Entry{Key: k, Value: v})
		enc = rest
	}
	t, err := kvtree.Keyed([32]byte(seed)).Build(es)
	if err != nil {
		return kvtree.Tree{}, fmt.Errorf("%w: %v", errStorage, err)
	}
	return t, nil
}

// storageField reads one length-prefixed field of at most limit bytes.
func storageField(b []byte, limit int) (field, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	switch {
	case w <= 0:
		return nil, nil, errors.New("bad length")
	case w != len(binary.AppendUvarint(nil, n)):
		return nil, nil, errors.New("length not minimally encoded")
	case n > uint64(limit):
		return nil, nil, fmt.Errorf("%d bytes, at most %d", n, limit)
	case n > uint64(len(b)-w):
		return nil, nil, fmt.Errorf("%d bytes, %d left", n, len(b)-w)
	}
	return b[w : w+int(n) : w+int(n)], b[w+int(n):], nil
}
