package protocol

import (
	"encoding/binary"
	"unicode/utf8"
)

// parseMessage reads the canonical encoding of a Message directly. pRuntime
// decodes every message of every block, so this hot path avoids the generic
// decoder and its re-encoding check; it accepts exactly the bytes that
// Unmarshal would accept for a Message (FuzzParseMessageMatchesUnmarshal
// holds it to that), and nothing else.
//
// The canonical layout is a map of four entries with keys in core
// deterministic order: "seq", "topic", "origin", "payload".
func parseMessage(b []byte) (*Message, error) {
	p := cborReader{b: b}
	if !p.expect(0xa4) {
		return nil, p.fail("not a 4-entry map")
	}
	var m Message
	if !p.expect(0x63, 's', 'e', 'q') {
		return nil, p.fail(`want key "seq"`)
	}
	seq, ok := p.uint(majorUint)
	if !ok {
		return nil, p.fail("seq")
	}
	m.Seq = seq
	if !p.expect(0x65, 't', 'o', 'p', 'i', 'c') {
		return nil, p.fail(`want key "topic"`)
	}
	topic, ok := p.bytes(majorText)
	if !ok || !utf8.Valid(topic) {
		return nil, p.fail("topic")
	}
	m.Topic = string(topic)
	if !p.expect(0x66, 'o', 'r', 'i', 'g', 'i', 'n', 0x82) {
		return nil, p.fail(`want key "origin" and a 2-element array`)
	}
	kind, ok := p.uint(majorUint)
	if !ok || kind > 0xff {
		return nil, p.fail("origin kind")
	}
	m.Origin.Kind = OriginKind(kind)
	id, ok := p.bytes(majorBytes)
	if !ok {
		return nil, p.fail("origin id")
	}
	m.Origin.ID = append([]byte{}, id...)
	if !p.expect(0x67, 'p', 'a', 'y', 'l', 'o', 'a', 'd') {
		return nil, p.fail(`want key "payload"`)
	}
	payload, ok := p.bytes(majorBytes)
	if !ok {
		return nil, p.fail("payload")
	}
	m.Payload = append([]byte{}, payload...)
	if len(p.b) != 0 {
		return nil, Errorf(ErrMalformed, "%d trailing bytes", len(p.b))
	}
	return &m, nil
}

const (
	majorUint  = 0
	majorBytes = 2
	majorText  = 3
)

// cborReader consumes definite-length, minimally encoded CBOR items.
type cborReader struct {
	b   []byte
	off int
	// nonCanonical records that the last failure was a valid but
	// non-minimal encoding.
	nonCanonical bool
}

func (r *cborReader) fail(what string) error {
	if r.nonCanonical {
		return Errorf(ErrNonCanonical, "message: %s at byte %d", what, r.off)
	}
	return Errorf(ErrMalformed, "message: %s at byte %d", what, r.off)
}

func (r *cborReader) expect(bs ...byte) bool {
	if len(r.b) < len(bs) {
		return false
	}
	for i, c := range bs {
		if r.b[i] != c {
			return false
		}
	}
	r.b, r.off = r.b[len(bs):], r.off+len(bs)
	return true
}

// uint reads the head of an item of the given major type and returns its
// argument, requiring the shortest encoding.
func (r *cborReader) uint(major byte) (uint64, bool) {
	if len(r.b) == 0 || r.b[0]>>5 != major {
		return 0, false
	}
	info := r.b[0] & 0x1f
	var v uint64
	var n int
	switch {
	case info < 24:
		v, n = uint64(info), 1
	case info == 24 && len(r.b) >= 2:
		v, n = uint64(r.b[1]), 2
		if v < 24 {
			r.nonCanonical = true
			return 0, false
		}
	case info == 25 && len(r.b) >= 3:
		v, n = uint64(binary.BigEndian.Uint16(r.b[1:])), 3
		if v <= 0xff {
			r.nonCanonical = true
			return 0, false
		}
	case info == 26 && len(r.b) >= 5:
		v, n = uint64(binary.BigEndian.Uint32(r.b[1:])), 5
		if v <= 0xffff {
			r.nonCanonical = true
			return 0, false
		}
	case info == 27 && len(r.b) >= 9:
		v, n = binary.BigEndian.Uint64(r.b[1:]), 9
		if v <= 0xffffffff {
			r.nonCanonical = true
			return 0, false
		}
	default:
		return 0, false
	}
	r.b, r.off = r.b[n:], r.off+n
	return v, true
}

// bytes reads a definite-length byte or text string.
func (r *cborReader) bytes(major byte) ([]byte, bool) {
	n, ok := r.uint(major)
	if !ok || n > uint64(len(r.b)) {
		return nil, false
	}
	out := r.b[:n]
	r.b, r.off = r.b[n:], r.off+int(n)
	return out, true
}
