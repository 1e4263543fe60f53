package contractsdk

// Codec turns values of T into bytes and back, for keys and values of the
// typed collections. Append must be deterministic (the same value always
// gives the same bytes: every worker must write identical state) and
// Decode must accept exactly what Append produces. For a key codec the
// encoding's byte order is the collection's iteration order.
type Codec[T any] interface {
	Append(dst []byte, v T) []byte
	Decode(data []byte) (T, error)
}

// NewCodec makes a Codec of two functions, for a contract's own types.
// An error decodeFn returns is reported as ErrDecode (still wrapping it).
func NewCodec[T any](appendFn func(dst []byte, v T) []byte, decodeFn func(data []byte) (T, error)) Codec[T] {
	return funcCodec[T]{appendFn, decodeFn}
}

type funcCodec[T any] struct {
	appendFn func([]byte, T) []byte
	decodeFn func([]byte) (T, error)
}

func (c funcCodec[T]) Append(dst []byte, v T) []byte { return c.appendFn(dst, v) }
func (c funcCodec[T]) Decode(data []byte) (T, error) {
	v, err := c.decodeFn(data)
	return v, decodeFailed(err)
}

// Uint64Codec encodes a uint64 as 8 big-endian bytes, so that keys iterate
// in numeric order.
type Uint64Codec struct{}

// Append implements Codec.
func (Uint64Codec) Append(dst []byte, v uint64) []byte { return appendUint64(dst, v) }

// Decode implements Codec.
func (Uint64Codec) Decode(data []byte) (uint64, error) {
	if len(data) != 8 {
		return 0, decodeError("uint64", len(data), "8")
	}
	return readUint64(data), nil
}

// Int64Codec encodes an int64 as 8 big-endian bytes with the sign bit
// flipped, so that keys iterate in numeric order, negatives first.
type Int64Codec struct{}

// Append implements Codec.
func (Int64Codec) Append(dst []byte, v int64) []byte { return appendUint64(dst, uint64(v)^1<<63) }

// Decode implements Codec.
func (Int64Codec) Decode(data []byte) (int64, error) {
	if len(data) != 8 {
		return 0, decodeError("int64", len(data), "8")
	}
	return int64(readUint64(data) ^ 1<<63), nil
}

// BoolCodec encodes false as 0 and true as 1.
type BoolCodec struct{}

// Append implements Codec.
func (BoolCodec) Append(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// Decode implements Codec.
func (BoolCodec) Decode(data []byte) (bool, error) {
	if len(data) != 1 || data[0] > 1 {
		return false, decodeError("bool", len(data), "1 (0 or 1)")
	}
	return data[0] == 1, nil
}

// StringCodec stores a string's bytes as they are. As a key it sorts
// byte-wise.
type StringCodec struct{}

// Append implements Codec.
func (StringCodec) Append(dst []byte, v string) []byte { return append(dst, v...) }

// Decode implements Codec.
func (StringCodec) Decode(data []byte) (string, error) { return string(data), nil }

// BytesCodec stores bytes as they are.
type BytesCodec struct{}

// Append implements Codec.
func (BytesCodec) Append(dst []byte, v []byte) []byte { return append(dst, v...) }

// Decode implements Codec; the result is a copy.
func (BytesCodec) Decode(data []byte) ([]byte, error) { return append([]byte{}, data...), nil }

// AddressCodec stores an address as its 20 bytes.
type AddressCodec struct{}

// Append implements Codec.
func (AddressCodec) Append(dst []byte, v Address) []byte { return append(dst, v[:]...) }

// Decode implements Codec.
func (AddressCodec) Decode(data []byte) (Address, error) {
	var a Address
	if len(data) != len(a) {
		return a, decodeError("address", len(data), "20")
	}
	copy(a[:], data)
	return a, nil
}

func decodeError(what string, got int, want string) error {
	return errorOf(ErrDecode, what+" of "+itoa(got)+" bytes, want "+want)
}

// appendUint64 and readUint64 are encoding/binary's BigEndian helpers.
func appendUint64(dst []byte, v uint64) []byte {
	return append(dst, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func readUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}
