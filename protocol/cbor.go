package protocol

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// RawCBOR is a canonical CBOR item kept undecoded, e.g. a call's arguments,
// which only the module that owns the call knows how to read.
type RawCBOR = cbor.RawMessage

// Decoding limits bound the work an attacker can cause with one input.
const (
	maxNesting  = 16
	maxElements = 1 << 16
)

var (
	encMode cbor.UserBufferEncMode
	decMode cbor.DecMode
)

func init() {
	// Both modes are immutable once built; they are package-level only
	// because building them is pure and cannot fail with these options.
	var err error
	encOpts := cbor.CoreDetEncOptions()
	encOpts.Time = cbor.TimeUnix
	// nil and empty byte strings, slices and maps encode alike, so an empty
	// value has one encoding (null is then refused as non-canonical).
	encOpts.NilContainers = cbor.NilContainerAsEmpty
	encMode, err = encOpts.UserBufferEncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   maxNesting,
		MaxArrayElements:  maxElements,
		MaxMapPairs:       maxElements,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		NaN:               cbor.NaNDecodeForbidden,
		Inf:               cbor.InfDecodeForbidden,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal returns the canonical (RFC 8949 core deterministic) encoding of v.
func Marshal(v any) ([]byte, error) {
	return encMode.Marshal(v)
}

// MustMarshal is Marshal for values whose encoding cannot fail (plain structs
// of this package). It panics otherwise, which is a programming error.
func MustMarshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("protocol: marshal %T: %v", v, err))
	}
	return b
}

// Unmarshal decodes data into v and accepts only the canonical encoding of
// the decoded value: unknown fields, duplicate keys, indefinite lengths,
// tags, non-minimal integers, unsorted maps and trailing bytes are refused.
// Each value therefore has exactly one accepted encoding, so signatures and
// hashes over encodings cannot be made to disagree.
//
// The error wraps ErrMalformed or ErrNonCanonical.
func Unmarshal(data []byte, v any) error {
	rest, err := decMode.UnmarshalFirst(data, v)
	if err != nil {
		return Errorf(ErrMalformed, "%v", err)
	}
	if len(rest) != 0 {
		return Errorf(ErrMalformed, "%d trailing bytes", len(rest))
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	if err := encMode.MarshalToBuffer(v, buf); err != nil {
		return Errorf(ErrMalformed, "re-encode: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		return Errorf(ErrNonCanonical, "encoding of %T is not canonical", v)
	}
	return nil
}

// bufPool recycles the buffers of Unmarshal's canonical re-encoding, which
// runs on every message pRuntime syncs.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
