package protocol_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// Hand-written CBOR, for encodings the encoder would never produce.

const (
	majUint  = 0 << 5
	majBytes = 2 << 5
	majText  = 3 << 5
	majArray = 4 << 5
	majMap   = 5 << 5
	majTag   = 6 << 5
	cborNull = 0xf6
	cborStop = 0xff
)

// head is the minimal head of an item of the major type with argument n.
func head(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major | byte(n)}
	case n <= 0xff:
		return wideHead(major, n, 1)
	case n <= 0xffff:
		return wideHead(major, n, 2)
	case n <= 0xffffffff:
		return wideHead(major, n, 4)
	}
	return wideHead(major, n, 8)
}

// wideHead is a head whose argument takes size (1, 2, 4 or 8) bytes, minimal
// or not.
func wideHead(major byte, n uint64, size int) []byte {
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], n)
	info := map[int]byte{1: 24, 2: 25, 4: 26, 8: 27}[size]
	return append([]byte{major | info}, be[8-size:]...)
}

func cUint(n uint64) []byte  { return head(majUint, n) }
func cBytes(b []byte) []byte { return cat(head(majBytes, uint64(len(b))), b) }
func cText(s string) []byte  { return cat(head(majText, uint64(len(s))), []byte(s)) }
func cArray(items ...[]byte) []byte {
	return cat(append([][]byte{head(majArray, uint64(len(items)))}, items...)...)
}

// cMap encodes key/value pairs in the order given; keys are text strings.
func cMap(pairs ...kv) []byte {
	out := head(majMap, uint64(len(pairs)))
	for _, p := range pairs {
		out = cat(out, cText(p.k), p.v)
	}
	return out
}

type kv struct {
	k string
	v []byte
}

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

// sampleMessage and its fields, hand-encoded in canonical key order
// (shorter keys first: seq, topic, origin, payload).
var sampleMessage = protocol.Message{
	Origin:  protocol.Origin{Kind: protocol.OriginWorker, ID: bytes.Repeat([]byte{7}, 32)},
	Topic:   "phala/test/topic",
	Seq:     5,
	Payload: []byte("hello"),
}

func sampleFields() (seq, topic, origin, payload kv) {
	m := sampleMessage
	return kv{"seq", cUint(m.Seq)},
		kv{"topic", cText(m.Topic)},
		kv{"origin", cArray(cUint(uint64(m.Origin.Kind)), cBytes(m.Origin.ID))},
		kv{"payload", cBytes(m.Payload)}
}

func canonicalMessage() []byte {
	seq, topic, origin, payload := sampleFields()
	return cMap(seq, topic, origin, payload)
}

func TestHandWrittenMessageIsTheCanonicalEncoding(t *testing.T) {
	if got, want := canonicalMessage(), protocol.MustMarshal(&sampleMessage); !bytes.Equal(got, want) {
		t.Fatalf("hand-written %x\nencoder     %x", got, want)
	}
}

func TestUnmarshalAcceptsCanonicalEncodings(t *testing.T) {
	msgs := []protocol.Message{
		sampleMessage,
		{Origin: protocol.GatekeeperOrigin(), Topic: "t", Seq: 1 << 40, Payload: bytes.Repeat([]byte{1}, 300)},
		{Origin: protocol.ModuleOrigin("registry"), Topic: "phala/registry/worker"}, // nil payload encodes as empty
	}
	for _, m := range msgs {
		enc := protocol.MustMarshal(&m)
		var got protocol.Message
		if err := protocol.Unmarshal(enc, &got); err != nil {
			t.Fatalf("Unmarshal(%x): %v", enc, err)
		}
		if !bytes.Equal(protocol.MustMarshal(&got), enc) || got.Seq != m.Seq || got.Topic != m.Topic {
			t.Fatalf("Unmarshal(%x) = %+v, want %+v", enc, got, m)
		}
	}
}

// refusal is an encoding Unmarshal must refuse, and the error it must give.
type refusal struct {
	name string
	data []byte
	want *protocol.Error
}

func messageRefusals() []refusal {
	seq, topic, origin, payload := sampleFields()
	valid := canonicalMessage()
	with := func(p kv, v []byte) kv { return kv{p.k, v} }
	nonMinimalLen := func(major byte, b []byte) []byte { return cat(wideHead(major, uint64(len(b)), 1), b) }
	return []refusal{
		// Non-minimal heads decode fine but re-encode differently.
		{"seq as 1-byte argument", cMap(with(seq, wideHead(majUint, 5, 1)), topic, origin, payload), protocol.ErrNonCanonical},
		{"seq as 8-byte argument", cMap(with(seq, wideHead(majUint, 5, 8)), topic, origin, payload), protocol.ErrNonCanonical},
		{"origin kind as 2-byte argument", cMap(seq, topic, with(origin, cArray(wideHead(majUint, 2, 2), cBytes(sampleMessage.Origin.ID))), payload), protocol.ErrNonCanonical},
		{"text length not minimal", cMap(seq, with(topic, cat(wideHead(majText, 16, 2), []byte(sampleMessage.Topic))), origin, payload), protocol.ErrNonCanonical},
		{"byte string length not minimal", cMap(seq, topic, origin, with(payload, nonMinimalLen(majBytes, []byte("hello")))), protocol.ErrNonCanonical},
		{"map length not minimal", cat(wideHead(majMap, 4, 1), valid[1:]), protocol.ErrNonCanonical},
		{"array length not minimal", cMap(seq, topic, with(origin, cat(wideHead(majArray, 2, 1), cUint(2), cBytes(sampleMessage.Origin.ID))), payload), protocol.ErrNonCanonical},
		{"map key length not minimal", cat(head(majMap, 4), wideHead(majText, 3, 1), []byte("seq"), seq.v, cText("topic"), topic.v, cText("origin"), origin.v, cText("payload"), payload.v), protocol.ErrNonCanonical},
		// Key order.
		{"keys in struct order", cMap(origin, topic, seq, payload), protocol.ErrNonCanonical},
		{"keys in alphabetical order", cMap(origin, payload, seq, topic), protocol.ErrNonCanonical},
		{"two keys swapped", cMap(topic, seq, origin, payload), protocol.ErrNonCanonical},
		// Duplicates and unknown fields are refused by the decoder itself.
		{"duplicate key, same value", cMap(seq, seq, topic, origin, payload), protocol.ErrMalformed},
		{"duplicate key, other value", cMap(seq, topic, origin, payload, with(seq, cUint(6))), protocol.ErrMalformed},
		{"unknown field", cMap(seq, kv{"extra", cUint(1)}, topic, origin, payload), protocol.ErrMalformed},
		{"field name in other case", cMap(kv{"Seq", seq.v}, topic, origin, payload), protocol.ErrMalformed},
		// Indefinite lengths.
		{"indefinite map", cat([]byte{majMap | 31}, valid[1:], []byte{cborStop}), protocol.ErrMalformed},
		{"indefinite array", cMap(seq, topic, with(origin, cat([]byte{majArray | 31}, cUint(2), cBytes(sampleMessage.Origin.ID), []byte{cborStop})), payload), protocol.ErrMalformed},
		{"indefinite byte string", cMap(seq, topic, origin, with(payload, cat([]byte{majBytes | 31}, cBytes([]byte("hel")), cBytes([]byte("lo")), []byte{cborStop}))), protocol.ErrMalformed},
		{"indefinite text", cMap(seq, with(topic, cat([]byte{majText | 31}, cText("phala/"), cText("test/topic"), []byte{cborStop})), origin, payload), protocol.ErrMalformed},
		// Tags.
		{"tagged payload", cMap(seq, topic, origin, with(payload, cat(head(majTag, 24), payload.v))), protocol.ErrMalformed},
		{"tagged seq (epoch time)", cMap(with(seq, cat(head(majTag, 1), seq.v)), topic, origin, payload), protocol.ErrMalformed},
		{"tagged message", cat(head(majTag, 55799), valid), protocol.ErrMalformed},
		// Extra or missing bytes.
		{"trailing zero byte", cat(valid, []byte{0}), protocol.ErrMalformed},
		{"second message appended", cat(valid, valid), protocol.ErrMalformed},
		{"truncated", valid[:len(valid)-1], protocol.ErrMalformed},
		{"empty input", nil, protocol.ErrMalformed},
		// Null and missing fields: nil and empty encode alike, as empty.
		{"null payload", cMap(seq, topic, origin, with(payload, []byte{cborNull})), protocol.ErrNonCanonical},
		{"null origin id", cMap(seq, topic, with(origin, cArray(cUint(2), []byte{cborNull})), payload), protocol.ErrNonCanonical},
		{"missing payload", cMap(seq, topic, origin), protocol.ErrNonCanonical},
		{"empty map", cMap(), protocol.ErrNonCanonical},
		// Wrong types and invalid values.
		{"seq as text", cMap(with(seq, cText("5")), topic, origin, payload), protocol.ErrMalformed},
		{"seq negative", cMap(with(seq, []byte{0x20}), topic, origin, payload), protocol.ErrMalformed},
		{"topic invalid UTF-8", cMap(seq, with(topic, cat(head(majText, 2), []byte{0xc3, 0x28})), origin, payload), protocol.ErrMalformed},
		{"origin as map", cMap(seq, topic, with(origin, cMap(kv{"Kind", cUint(2)})), payload), protocol.ErrMalformed},
		{"origin array too long", cMap(seq, topic, with(origin, cArray(cUint(2), cBytes(sampleMessage.Origin.ID), cUint(0))), payload), protocol.ErrMalformed},
		{"message as array", cArray(seq.v, topic.v, origin.v, payload.v), protocol.ErrMalformed},
	}
}

func TestUnmarshalRefusesNonCanonicalMessages(t *testing.T) {
	for _, tc := range messageRefusals() {
		t.Run(tc.name, func(t *testing.T) {
			var m protocol.Message
			err := protocol.Unmarshal(tc.data, &m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Unmarshal(%x) = %v, want %s", tc.data, err, tc.want.Msg)
			}
		})
	}
}

// The specification-named tests below pin one rule each on SignedTx, whose
// two byte-string fields sort as "sig" before "body".

func signedTxFields() (sig, body kv) {
	return kv{"sig", cBytes(bytes.Repeat([]byte{2}, 64))}, kv{"body", cBytes([]byte{0xa0})}
}

func TestHandWrittenSignedTxIsTheCanonicalEncoding(t *testing.T) {
	sig, body := signedTxFields()
	want := protocol.MustMarshal(&protocol.SignedTx{Body: []byte{0xa0}, Sig: bytes.Repeat([]byte{2}, 64)})
	if got := cMap(sig, body); !bytes.Equal(got, want) {
		t.Fatalf("hand-written %x\nencoder     %x", got, want)
	}
	var st protocol.SignedTx
	if err := protocol.Unmarshal(want, &st); err != nil {
		t.Fatal(err)
	}
}

func refuseSignedTx(t *testing.T, data []byte, want *protocol.Error) {
	t.Helper()
	var st protocol.SignedTx
	if err := protocol.Unmarshal(data, &st); !errors.Is(err, want) {
		t.Fatalf("Unmarshal(%x) = %v, want %s", data, err, want.Msg)
	}
}

func TestUnmarshalRefusesNonMinimalIntegerEncodings(t *testing.T) {
	var m protocol.Message
	for _, size := range []int{1, 2, 4, 8} {
		seq, topic, origin, payload := sampleFields()
		seq.v = wideHead(majUint, 23, size)
		data := cMap(seq, topic, origin, payload)
		if err := protocol.Unmarshal(data, &m); !errors.Is(err, protocol.ErrNonCanonical) {
			t.Errorf("seq 23 in %d bytes: %v, want non-canonical", size, err)
		}
	}
}

func TestUnmarshalRefusesNonMinimalLengthEncodings(t *testing.T) {
	sig, body := signedTxFields()
	body.v = cat(wideHead(majBytes, 1, 4), []byte{0xa0})
	refuseSignedTx(t, cMap(sig, body), protocol.ErrNonCanonical)
}

func TestUnmarshalRefusesUnsortedMapKeys(t *testing.T) {
	sig, body := signedTxFields()
	refuseSignedTx(t, cMap(body, sig), protocol.ErrNonCanonical)
}

func TestUnmarshalRefusesDuplicateMapKeys(t *testing.T) {
	sig, body := signedTxFields()
	refuseSignedTx(t, cMap(sig, body, body), protocol.ErrMalformed)
}

func TestUnmarshalRefusesIndefiniteLengthItems(t *testing.T) {
	sig, body := signedTxFields()
	refuseSignedTx(t, cat([]byte{majMap | 31}, cText(sig.k), sig.v, cText(body.k), body.v, []byte{cborStop}), protocol.ErrMalformed)
	body.v = cat([]byte{majBytes | 31}, cBytes([]byte{0xa0}), []byte{cborStop})
	refuseSignedTx(t, cMap(sig, body), protocol.ErrMalformed)
}

func TestUnmarshalRefusesTags(t *testing.T) {
	sig, body := signedTxFields()
	body.v = cat(head(majTag, 24), body.v) // tag 24: embedded CBOR
	refuseSignedTx(t, cMap(sig, body), protocol.ErrMalformed)
}

func TestUnmarshalRefusesUnknownStructFields(t *testing.T) {
	sig, body := signedTxFields()
	refuseSignedTx(t, cMap(sig, body, kv{"extra", cBytes(nil)}), protocol.ErrMalformed)
}

func TestUnmarshalRefusesTrailingBytes(t *testing.T) {
	sig, body := signedTxFields()
	refuseSignedTx(t, cat(cMap(sig, body), []byte{cborNull}), protocol.ErrMalformed)
}

func TestUnmarshalRefusesNullForByteString(t *testing.T) {
	sig, body := signedTxFields()
	body.v = []byte{cborNull}
	refuseSignedTx(t, cMap(sig, body), protocol.ErrNonCanonical)
	sig.v = []byte{cborNull}
	refuseSignedTx(t, cMap(sig, kv{"body", cBytes([]byte{0xa0})}), protocol.ErrNonCanonical)
}

func TestUnmarshalRefusesDeepNesting(t *testing.T) {
	// Governance action args are kept raw, but still bounded in depth.
	deep := cUint(0)
	for range 20 {
		deep = cArray(deep)
	}
	args := cMap(
		kv{"action", cMap(kv{"args", deep}, kv{"kind", cText(protocol.ActionSetParams)})},
		kv{"approvals", cArray()},
		kv{"gov_nonce", cUint(0)},
	)
	var ea protocol.ExecuteArgs
	if err := protocol.Unmarshal(args, &ea); !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("20-deep args: %v, want malformed", err)
	}
}

func TestMarshalEncodesNilAndEmptyAlike(t *testing.T) {
	a := protocol.MustMarshal(&protocol.SignedTx{})
	b := protocol.MustMarshal(&protocol.SignedTx{Body: []byte{}, Sig: []byte{}})
	if !bytes.Equal(a, b) {
		t.Fatalf("nil fields %x, empty fields %x", a, b)
	}
	var st protocol.SignedTx
	if err := protocol.Unmarshal(a, &st); err != nil {
		t.Fatalf("empty SignedTx does not decode: %v", err)
	}
}
