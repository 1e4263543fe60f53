//go:build !wasip1

package contractsdk_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/phala-go/phala/contractsdk"
	"github.com/phala-go/phala/protocol"
)

func TestParseAddressAcceptsEitherCaseAndPrintsLowercase(t *testing.T) {
	const lower = "00112233445566778899aabbccddeeff0a1b2c3d"
	for _, s := range []string{lower, strings.ToUpper(lower)} {
		a, err := contractsdk.ParseAddress(s)
		if err != nil {
			t.Fatalf("ParseAddress(%q): %v", s, err)
		}
		if a.String() != lower {
			t.Fatalf("ParseAddress(%q) prints %q", s, a)
		}
	}
}

func TestParseAddressRefusesAnythingButFortyHexDigits(t *testing.T) {
	for _, s := range []string{"", "0011", strings.Repeat("0", 39), strings.Repeat("0", 41), strings.Repeat("g", 40), "0x" + strings.Repeat("0", 38), strings.Repeat("é", 20)} {
		if _, err := contractsdk.ParseAddress(s); !errors.Is(err, contractsdk.ErrBadAddress) {
			t.Errorf("ParseAddress(%q) = %v, want ErrBadAddress", s, err)
		}
	}
}

func TestAddressMatchesProtocolAddressInText(t *testing.T) {
	p := protocol.AddressOf([]byte("some public key"))
	a, err := contractsdk.ParseAddress(p.String())
	if err != nil {
		t.Fatal(err)
	}
	if a != contractsdk.Address(p) {
		t.Fatalf("parsed %v, want %v", a, p)
	}
	type msg struct{ A contractsdk.Address }
	b, err := json.Marshal(msg{a})
	if err != nil || string(b) != `{"A":"`+p.String()+`"}` {
		t.Fatalf("JSON %s, %v", b, err)
	}
	var back msg
	if err := json.Unmarshal(b, &back); err != nil || back.A != a {
		t.Fatalf("JSON round trip: %v, %v", back.A, err)
	}
	if err := json.Unmarshal([]byte(`{"A":"zz"}`), &back); !errors.Is(err, contractsdk.ErrBadAddress) {
		t.Fatalf("bad JSON address: %v", err)
	}
}

func TestAddressIsZero(t *testing.T) {
	var a contractsdk.Address
	if !a.IsZero() {
		t.Fatal("zero address not IsZero")
	}
	a[0] = 1
	if a.IsZero() {
		t.Fatal("non-zero address IsZero")
	}
}

func TestContractIDPrintsHex(t *testing.T) {
	var id contractsdk.ContractID
	id[0], id[31] = 0xab, 0x01
	want := "ab" + strings.Repeat("0", 60) + "01"
	if id.String() != want {
		t.Fatalf("got %s", id)
	}
	if b, _ := id.MarshalText(); string(b) != want {
		t.Fatalf("MarshalText %s", b)
	}
}

// FuzzParseAddressAgreesWithProtocol checks the SDK's address parser, which
// reads untrusted JSON input, against the chain's.
func FuzzParseAddressAgreesWithProtocol(f *testing.F) {
	for _, s := range []string{"00112233445566778899aabbccddeeff0a1b2c3d", "00112233445566778899AABBCCDDEEFF0A1B2C3D", "", "zz", strings.Repeat("0", 41)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := contractsdk.ParseAddress(s)
		p, perr := protocol.ParseAddress(s)
		if (err == nil) != (perr == nil) {
			t.Fatalf("ParseAddress(%q): SDK %v, protocol %v", s, err, perr)
		}
		if err != nil {
			if !errors.Is(err, contractsdk.ErrBadAddress) {
				t.Fatalf("ParseAddress(%q) = %v, not ErrBadAddress", s, err)
			}
			return
		}
		if a != contractsdk.Address(p) || a.String() != p.String() {
			t.Fatalf("ParseAddress(%q) = %v, protocol %v", s, a, p)
		}
	})
}
