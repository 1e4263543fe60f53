package protocol_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/phala-go/phala/protocol"
)

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pattern is n bytes that compress, but not to nothing.
func pattern(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(i * i >> 3)
	}
	return out
}

func TestDecompress(t *testing.T) {
	const limit = 10_000
	lyingLow := gz(t, pattern(5000))
	binary.LittleEndian.PutUint32(lyingLow[len(lyingLow)-4:], 10) // the length field claims 10 bytes
	lyingHigh := gz(t, pattern(5000))
	binary.LittleEndian.PutUint32(lyingHigh[len(lyingHigh)-4:], 1<<31)
	cases := []struct {
		name        string
		compression string
		code        []byte
		want        []byte // nil: refused
		err         *protocol.Error
	}{
		{"uncompressed", protocol.CompressionNone, pattern(100), pattern(100), nil},
		{"uncompressed at the limit", protocol.CompressionNone, pattern(limit), pattern(limit), nil},
		{"uncompressed above the limit", protocol.CompressionNone, pattern(limit + 1), nil, protocol.ErrCodeTooLarge},
		{"gzip", protocol.CompressionGzip, gz(t, pattern(3000)), pattern(3000), nil},
		{"gzip inflating to the limit", protocol.CompressionGzip, gz(t, pattern(limit)), pattern(limit), nil},
		{"gzip inflating one byte past the limit", protocol.CompressionGzip, gz(t, pattern(limit+1)), nil, protocol.ErrCodeTooLarge},
		{"gzip bomb", protocol.CompressionGzip, gz(t, make([]byte, 1<<24)), nil, protocol.ErrCodeTooLarge},
		{"gzip of nothing", protocol.CompressionGzip, gz(t, nil), []byte{}, nil},
		{"two gzip members: their concatenation", protocol.CompressionGzip, append(gz(t, pattern(4000)), gz(t, []byte("tail"))...), append(pattern(4000), "tail"...), nil},
		{"length field lying low", protocol.CompressionGzip, lyingLow, nil, protocol.ErrBadCompression},
		{"length field lying high", protocol.CompressionGzip, lyingHigh, nil, protocol.ErrBadCompression},
		{"truncated gzip", protocol.CompressionGzip, gz(t, pattern(3000))[:40], nil, protocol.ErrBadCompression},
		{"gzip with trailing garbage", protocol.CompressionGzip, append(gz(t, pattern(300)), "junk"...), nil, protocol.ErrBadCompression},
		{"not gzip", protocol.CompressionGzip, pattern(300), nil, protocol.ErrBadCompression},
		{"unknown compression", "zstd", gz(t, pattern(300)), nil, protocol.ErrBadCompression},
	}
	for _, c := range cases {
		got, err := protocol.DecompressCode(c.compression, c.code, limit)
		switch {
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		case c.err == nil && (err != nil || !bytes.Equal(got, c.want)):
			t.Errorf("%s: %d bytes, %v; want %d bytes", c.name, len(got), err, len(c.want))
		}
	}
}

// FuzzDecompress checks the upload decoder against the plain reading of
// the same stream: it accepts exactly the streams that inflate, in full
// and intact, to at most the limit, returns their bytes, and refuses
// everything else with a code.
func FuzzDecompress(f *testing.F) {
	// Small sizes: under the fuzzer's coverage instrumentation inflating
	// is slow, and the bounds work the same at any size.
	const limit = 4096
	f.Add(gz(f, pattern(1000)))
	f.Add(gz(f, make([]byte, 64<<10)))
	f.Add(append(gz(f, pattern(100)), gz(f, pattern(200))...))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"))
	f.Fuzz(func(t *testing.T, code []byte) {
		got, err := protocol.DecompressCode(protocol.CompressionGzip, code, limit)
		var want []byte
		var refErr error
		if zr, zerr := gzip.NewReader(bytes.NewReader(code)); zerr != nil {
			refErr = zerr
		} else {
			want, refErr = io.ReadAll(io.LimitReader(zr, limit+1))
			if refErr == nil && len(want) <= limit {
				_, refErr = zr.Read(make([]byte, 1)) // the end of the stream, checksums included
				if errors.Is(refErr, io.EOF) {
					refErr = nil
				}
			}
		}
		switch {
		case err == nil && (refErr != nil || len(want) > limit || !bytes.Equal(got, want)):
			t.Fatalf("accepted %d bytes; plain reading: %d bytes, %v", len(got), len(want), refErr)
		case err != nil && refErr == nil && len(want) <= limit:
			t.Fatalf("refused a valid stream of %d bytes: %v", len(want), err)
		case err != nil:
			if _, ok := protocol.CodeOf(err); !ok {
				t.Fatalf("refusal without a code: %v", err)
			}
		}
	})
}
