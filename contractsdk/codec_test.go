package contractsdk_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/phala-go/phala/contractsdk"
)

func roundTrip[T comparable](t *testing.T, c contractsdk.Codec[T], vals ...T) {
	t.Helper()
	for _, v := range vals {
		got, err := c.Decode(c.Append(nil, v))
		if err != nil || got != v {
			t.Errorf("%T: %v decodes as %v, %v", c, v, got, err)
		}
	}
}

func TestCodecsRoundTrip(t *testing.T) {
	roundTrip(t, contractsdk.Uint64Codec{}, 0, 1, 1<<32, math.MaxUint64)
	roundTrip(t, contractsdk.Int64Codec{}, math.MinInt64, -1, 0, 1, math.MaxInt64)
	roundTrip(t, contractsdk.BoolCodec{}, false, true)
	roundTrip(t, contractsdk.StringCodec{}, "", "key", "\x00\xff")
	roundTrip(t, contractsdk.AddressCodec{}, contractsdk.Address{}, contractsdk.Address{1, 2, 3, 19: 20})
	b, err := contractsdk.BytesCodec{}.Decode([]byte{1, 2})
	if err != nil || !bytes.Equal(b, []byte{1, 2}) {
		t.Fatalf("BytesCodec: %v, %v", b, err)
	}
}

func TestCodecsAppendToDst(t *testing.T) {
	got := contractsdk.Uint64Codec{}.Append([]byte("p/"), 258)
	if !bytes.Equal(got, []byte("p/\x00\x00\x00\x00\x00\x00\x01\x02")) {
		t.Fatalf("got %q", got)
	}
}

func TestIntegerKeysSortNumerically(t *testing.T) {
	u := []uint64{0, 1, 255, 256, 1 << 40, math.MaxUint64}
	for i := 1; i < len(u); i++ {
		c := contractsdk.Uint64Codec{}
		if bytes.Compare(c.Append(nil, u[i-1]), c.Append(nil, u[i])) >= 0 {
			t.Errorf("uint64 %d does not sort before %d", u[i-1], u[i])
		}
	}
	s := []int64{math.MinInt64, -256, -1, 0, 1, 256, math.MaxInt64}
	for i := 1; i < len(s); i++ {
		c := contractsdk.Int64Codec{}
		if bytes.Compare(c.Append(nil, s[i-1]), c.Append(nil, s[i])) >= 0 {
			t.Errorf("int64 %d does not sort before %d", s[i-1], s[i])
		}
	}
}

func TestCodecsRefuseBytesTheyDidNotWrite(t *testing.T) {
	cases := []struct {
		name string
		dec  func([]byte) error
		in   []byte
	}{
		{"uint64 short", func(b []byte) error { _, err := contractsdk.Uint64Codec{}.Decode(b); return err }, make([]byte, 7)},
		{"uint64 long", func(b []byte) error { _, err := contractsdk.Uint64Codec{}.Decode(b); return err }, make([]byte, 9)},
		{"int64 short", func(b []byte) error { _, err := contractsdk.Int64Codec{}.Decode(b); return err }, nil},
		{"bool 2", func(b []byte) error { _, err := contractsdk.BoolCodec{}.Decode(b); return err }, []byte{2}},
		{"bool empty", func(b []byte) error { _, err := contractsdk.BoolCodec{}.Decode(b); return err }, nil},
		{"address short", func(b []byte) error { _, err := contractsdk.AddressCodec{}.Decode(b); return err }, make([]byte, 19)},
		{"NewCodec's own error", func(b []byte) error { _, err := pairCodec.Decode(b); return err }, []byte{1}},
	}
	for _, c := range cases {
		if err := c.dec(c.in); !errors.Is(err, contractsdk.ErrDecode) {
			t.Errorf("%s: got %v, want ErrDecode", c.name, err)
		}
	}
	_, err := pairCodec.Decode(nil)
	if !errors.Is(err, errNotPair) || err.Error() != "want 2 bytes: stored value does not decode" {
		t.Errorf("NewCodec's decode error %q lost the function's own error", err)
	}
}

type pair struct{ a, b byte }

var errNotPair = errors.New("want 2 bytes")

// pairCodec is a contract's own codec, made with NewCodec.
var pairCodec = contractsdk.NewCodec(
	func(dst []byte, p pair) []byte { return append(dst, p.a, p.b) },
	func(b []byte) (pair, error) {
		if len(b) != 2 {
			return pair{}, errNotPair
		}
		return pair{b[0], b[1]}, nil
	})

func TestNewCodecUsesTheGivenFunctions(t *testing.T) {
	roundTrip(t, pairCodec, pair{1, 2})
	if got := pairCodec.Append([]byte("p/"), pair{3, 4}); string(got) != "p/\x03\x04" {
		t.Fatalf("Append: %q", got)
	}
}
