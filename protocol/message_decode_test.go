package protocol

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseMessageMatchesUnmarshal holds the hand-written message parser to
// the generic canonical decoder: both accept exactly the same inputs, and
// decode them to the same value.
func FuzzParseMessageMatchesUnmarshal(f *testing.F) {
	for _, m := range []Message{
		{Origin: AccountOrigin(Address{1}), Topic: "t", Seq: 0, Payload: []byte("p")},
		{Origin: GatekeeperOrigin(), Topic: "phala/worker/ab/ping", Seq: 1 << 40},
		{Origin: ModuleOrigin("registry"), Topic: "a/b", Seq: 300, Payload: make([]byte, 300)},
	} {
		f.Add(m.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ferr := parseMessage(b)
		var slow Message
		serr := Unmarshal(b, &slow)
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("parser: %v; generic decoder: %v", ferr, serr)
		}
		if ferr != nil {
			if !errors.Is(ferr, ErrMalformed) && !errors.Is(ferr, ErrNonCanonical) {
				t.Fatalf("parser error without a code: %v", ferr)
			}
			return
		}
		if fast.Seq != slow.Seq || fast.Topic != slow.Topic || fast.Origin.Kind != slow.Origin.Kind ||
			!bytes.Equal(fast.Origin.ID, slow.Origin.ID) || !bytes.Equal(fast.Payload, slow.Payload) {
			t.Fatalf("parser %+v, generic %+v", fast, slow)
		}
		if !bytes.Equal(fast.Encode(), b) {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}

func TestParseMessageRefusesNonMinimalIntegers(t *testing.T) {
	m := Message{Origin: AccountOrigin(Address{1}), Topic: "t", Seq: 5}
	b := m.Encode()
	// seq 5 is 0x05 after the key; rewrite it as 0x18 0x05.
	i := bytes.Index(b, []byte{0x63, 's', 'e', 'q'}) + 4
	bad := append(append(append([]byte{}, b[:i]...), 0x18, 0x05), b[i+1:]...)
	if _, err := parseMessage(bad); !errors.Is(err, ErrNonCanonical) {
		t.Fatalf("got %v", err)
	}
	var generic Message
	if err := Unmarshal(bad, &generic); err == nil {
		t.Fatal("generic decoder accepted it")
	}
}
