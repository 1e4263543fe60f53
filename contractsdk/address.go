package contractsdk

// Address identifies an account: the first 20 bytes of the SHA-256 of its
// ed25519 public key (the same as protocol.Address on the host side). In
// text, and so in JSON, it is 40 lowercase hex characters.
type Address [20]byte

// ParseAddress reads a 40-character hex address (either case; an address
// always prints in lowercase).
func ParseAddress(s string) (Address, error) {
	var a Address
	if len(s) != 2*len(a) {
		return a, errorOf(ErrBadAddress, quote(s)+" has "+itoa(len(s))+" characters, want 40 hex digits")
	}
	if !decodeHex(a[:], s) {
		return a, errorOf(ErrBadAddress, quote(s)+" is not hex")
	}
	return a, nil
}

// String returns the address as 40 lowercase hex characters.
func (a Address) String() string { return string(appendHex(nil, a[:])) }

// IsZero reports whether a is the all-zero address, which no key has.
func (a Address) IsZero() bool { return a == Address{} }

// MarshalText encodes the address as lowercase hex (used by
// contractsdk/jsonmsg and encoding/json).
func (a Address) MarshalText() ([]byte, error) { return appendHex(nil, a[:]), nil }

// UnmarshalText reads a hex address, as ParseAddress does.
func (a *Address) UnmarshalText(text []byte) error {
	p, err := ParseAddress(string(text))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

// ContractID names a contract instance (protocol.ContractID on the host
// side). In text it is 64 lowercase hex characters.
type ContractID [32]byte

// String returns the id as 64 lowercase hex characters.
func (id ContractID) String() string { return string(appendHex(nil, id[:])) }

// MarshalText encodes the id as lowercase hex.
func (id ContractID) MarshalText() ([]byte, error) { return appendHex(nil, id[:]), nil }

const hexDigits = "0123456789abcdef"

// appendHex and decodeHex replace encoding/hex, which imports fmt.
func appendHex(dst, src []byte) []byte {
	for _, b := range src {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return dst
}

func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
