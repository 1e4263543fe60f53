package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/phala-go/phala/protocol"
)

// testKey derives a deterministic ed25519 key from a one-byte seed.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func pubOf(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }

func TestSigContextsAreDistinctAndNoneIsAPrefixOfAnother(t *testing.T) {
	if len(protocol.SigContexts) < 9 {
		t.Fatalf("SigContexts lists %d contexts; every context must be listed", len(protocol.SigContexts))
	}
	for i, a := range protocol.SigContexts {
		if a == "" {
			t.Errorf("context %d is empty", i)
		}
		for j, b := range protocol.SigContexts {
			if i != j && strings.HasPrefix(string(b), string(a)) {
				t.Errorf("context %q is a prefix of (or equal to) %q", a, b)
			}
		}
	}
}

func TestSigningInputIsContextThenData(t *testing.T) {
	got := protocol.SigningInput(protocol.SigTx, []byte("data"))
	if string(got) != "phala/tx/v1data" {
		t.Fatalf("SigningInput = %q", got)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	k := testKey(1)
	for _, ctx := range protocol.SigContexts {
		for _, data := range [][]byte{nil, {}, []byte("payload")} {
			sig := protocol.Sign(k, ctx, data)
			if len(sig) != ed25519.SignatureSize {
				t.Fatalf("%s: signature has %d bytes", ctx, len(sig))
			}
			if !protocol.Verify(pubOf(k), ctx, data, sig) {
				t.Fatalf("%s: own signature of %q does not verify", ctx, data)
			}
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	k, other := testKey(1), testKey(2)
	data := []byte("payload")
	sig := protocol.Sign(k, protocol.SigTx, data)
	flipped := bytes.Clone(sig)
	flipped[10] ^= 1
	cases := []struct {
		name      string
		pub       []byte
		ctx       protocol.SigContext
		data, sig []byte
	}{
		{"other context", pubOf(k), protocol.SigMessage, data, sig},
		{"other key", pubOf(other), protocol.SigTx, data, sig},
		{"other data", pubOf(k), protocol.SigTx, []byte("payloaD"), sig},
		{"altered signature", pubOf(k), protocol.SigTx, data, flipped},
		{"short key", pubOf(k)[:31], protocol.SigTx, data, sig},
		{"long key", append(bytes.Clone(pubOf(k)), 0), protocol.SigTx, data, sig},
		{"no key", nil, protocol.SigTx, data, sig},
		{"short signature", pubOf(k), protocol.SigTx, data, sig[:63]},
		{"long signature", pubOf(k), protocol.SigTx, data, append(bytes.Clone(sig), 0)},
		{"no signature", pubOf(k), protocol.SigTx, data, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if protocol.Verify(tc.pub, tc.ctx, tc.data, tc.sig) {
				t.Fatal("Verify = true")
			}
		})
	}
}

func TestAddressOfIsTruncatedSHA256(t *testing.T) {
	pub := pubOf(testKey(1))
	sum := sha256.Sum256(pub)
	if a := protocol.AddressOf(pub); !bytes.Equal(a[:], sum[:protocol.AddressLen]) {
		t.Fatalf("AddressOf = %x, want %x", a, sum[:protocol.AddressLen])
	}
}

func sampleAddress() protocol.Address { return protocol.AddressOf(pubOf(testKey(1))) }

func TestAddressHexRoundTrip(t *testing.T) {
	a := sampleAddress()
	s := a.String()
	if len(s) != 2*protocol.AddressLen || strings.ToLower(s) != s {
		t.Fatalf("String = %q, want %d lowercase hex digits", s, 2*protocol.AddressLen)
	}
	got, err := protocol.ParseAddress(s)
	if err != nil || got != a {
		t.Fatalf("ParseAddress(%q) = %x, %v", s, got, err)
	}
}

func TestParseAddressRefuses(t *testing.T) {
	s := sampleAddress().String()
	for _, in := range []string{"", s[:38], s + "00", s[:39], s[:38] + "zz", "0x" + s[:38], s[:38] + " 0"} {
		if _, err := protocol.ParseAddress(in); !errors.Is(err, protocol.ErrBadAddress) {
			t.Errorf("ParseAddress(%q) = %v, want ErrBadAddress", in, err)
		}
	}
}

func TestAddressCBORRoundTrip(t *testing.T) {
	a := sampleAddress()
	enc := protocol.MustMarshal(a)
	if want := cBytes(a[:]); !bytes.Equal(enc, want) {
		t.Fatalf("CBOR = %x, want byte string %x", enc, want)
	}
	var got protocol.Address
	if err := protocol.Unmarshal(enc, &got); err != nil || got != a {
		t.Fatalf("Unmarshal = %x, %v", got, err)
	}
	// Inside a struct too.
	args := protocol.TransferArgs{To: a, Amount: 7}
	var back protocol.TransferArgs
	if err := protocol.Unmarshal(protocol.MustMarshal(&args), &back); err != nil || back != args {
		t.Fatalf("TransferArgs round trip = %+v, %v", back, err)
	}
}

func TestAddressUnmarshalCBORRefusesWrongLengths(t *testing.T) {
	cases := map[string][]byte{
		"empty":    cBytes(nil),
		"19 bytes": cBytes(make([]byte, 19)),
		"21 bytes": cBytes(make([]byte, 21)),
		"32 bytes": cBytes(make([]byte, 32)),
		"null":     {cborNull},
		"text":     cText(strings.Repeat("a", 20)),
		"array":    cArray(),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			var a protocol.Address
			if err := a.UnmarshalCBOR(data); err == nil {
				t.Fatalf("UnmarshalCBOR(%x) accepted", data)
			}
			if err := protocol.Unmarshal(data, &a); !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("Unmarshal(%x) = %v, want malformed", data, err)
			}
		})
	}
}

func TestAddressJSONRoundTrip(t *testing.T) {
	a := sampleAddress()
	enc, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + a.String() + `"`; string(enc) != want {
		t.Fatalf("JSON = %s, want %s", enc, want)
	}
	var got protocol.Address
	if err := json.Unmarshal(enc, &got); err != nil || got != a {
		t.Fatalf("json.Unmarshal = %x, %v", got, err)
	}
	for _, bad := range []string{`"00"`, `"` + a.String() + `00"`, `"zz"`, `12`} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("json.Unmarshal(%s) accepted", bad)
		}
	}
}
