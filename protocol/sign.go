package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// SigContext separates the domains of ed25519 signatures: every kind of
// signed bytes in the system has its own context, prefixed to the bytes
// before signing, so a signature made for one purpose can never be accepted
// for another (see DESIGN section 3).
type SigContext string

// Signature contexts. None is a prefix of another, which a test enforces.
const (
	SigTx          SigContext = "phala/tx/v1"
	SigMessage     SigContext = "phala/msg/v1"
	SigGovernance  SigContext = "phala/gov/v1"
	SigSimQuote    SigContext = "phala/sim-quote/v1"
	SigQuery       SigContext = "phala/query/v2"
	SigResponse    SigContext = "phala/response/v2"
	SigKeyAnnounce SigContext = "phala/key-announce/v1"
	SigEndpoint    SigContext = "phala/endpoint/v1"
	SigSnapshot    SigContext = "phala/snapshot/v1"
	SigGatekeeper  SigContext = "phala/gatekeeper/v1"
	// SigStateRequest signs a newcomer's request for its cluster's state.
	SigStateRequest SigContext = "phala/state-request/v1"
)

// SigContexts lists every context, for the collision test.
var SigContexts = []SigContext{
	SigTx, SigMessage, SigGovernance, SigSimQuote, SigQuery, SigResponse,
	SigKeyAnnounce, SigEndpoint, SigSnapshot, SigGatekeeper, SigStateRequest,
}

// SigningInput is the exact byte string an ed25519 signature covers:
// the context followed by the data.
func SigningInput(ctx SigContext, data []byte) []byte {
	out := make([]byte, 0, len(ctx)+len(data))
	out = append(out, ctx...)
	return append(out, data...)
}

// Sign signs data under ctx.
func Sign(priv ed25519.PrivateKey, ctx SigContext, data []byte) []byte {
	return ed25519.Sign(priv, SigningInput(ctx, data))
}

// Verify reports whether sig is pub's signature of data under ctx. Malformed
// keys or signatures verify as false.
func Verify(pub []byte, ctx SigContext, data, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(pub), SigningInput(ctx, data), sig)
}

// AddressLen is the length of an account address.
const AddressLen = 20

// Address identifies an account: the first 20 bytes of SHA-256 of its
// ed25519 public key. It encodes as a CBOR byte string of exactly 20 bytes
// and as lowercase hex in text.
type Address [AddressLen]byte

// AddressOf derives the address of an ed25519 public key.
func AddressOf(pub []byte) Address {
	sum := sha256.Sum256(pub)
	var a Address
	copy(a[:], sum[:AddressLen])
	return a
}

// ParseAddress reads a hex address.
func ParseAddress(s string) (Address, error) {
	var a Address
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != AddressLen {
		return a, Errorf(ErrBadAddress, "%q is not %d hex-encoded bytes", s, AddressLen)
	}
	copy(a[:], b)
	return a, nil
}

func (a Address) String() string { return hex.EncodeToString(a[:]) }

// MarshalCBOR encodes the address as a byte string.
func (a Address) MarshalCBOR() ([]byte, error) { return encMode.Marshal(a[:]) }

// UnmarshalCBOR accepts a byte string of exactly AddressLen bytes.
func (a *Address) UnmarshalCBOR(data []byte) error {
	var b []byte
	if err := decMode.Unmarshal(data, &b); err != nil {
		return err
	}
	if len(b) != AddressLen {
		return fmt.Errorf("address has %d bytes, want %d", len(b), AddressLen)
	}
	copy(a[:], b)
	return nil
}

// MarshalText encodes the address as hex (used by JSON).
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads a hex address (used by JSON).
func (a *Address) UnmarshalText(text []byte) error {
	p, err := ParseAddress(string(text))
	if err != nil {
		return err
	}
	*a = p
	return nil
}
