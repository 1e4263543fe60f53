package meter

import (
	"fmt"
	"unicode/utf8"

	"github.com/phala-go/phala/protocol"
)

// reader decodes the primitive encodings of the WebAssembly binary format
// (bytes, LEB128 integers, names, vectors) from an untrusted module. Every
// failure is an ErrInvalidModule naming the absolute byte offset, so a
// refusal can be traced to the byte that caused it.
type reader struct {
	buf  []byte
	pos  int // offset in buf
	base int // offset of buf[0] in the module, for error messages
	fn   int // the function whose body buf is, named in errors; -1 outside bodies
}

func newReader(buf []byte, base int) *reader { return &reader{buf: buf, base: base, fn: -1} }

// offset is the module offset of the next unread byte.
func (r *reader) offset() int { return r.base + r.pos }

func (r *reader) remaining() int { return len(r.buf) - r.pos }

func (r *reader) done() bool { return r.pos >= len(r.buf) }

// invalid returns an ErrInvalidModule at the reader's current offset.
func (r *reader) invalid(format string, args ...any) error {
	return r.invalidAt(r.offset(), format, args...)
}

// invalidAt returns an ErrInvalidModule at module offset off.
func (r *reader) invalidAt(off int, format string, args ...any) error {
	return r.refuse(protocol.ErrInvalidModule, off, format, args...)
}

// refuse returns code with a message naming the problem, the function
// being read (in a body) and the module offset off.
func (r *reader) refuse(code *protocol.Error, off int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if r.fn >= 0 {
		msg = fmt.Sprintf("function %d: %s", r.fn, msg)
	}
	return protocol.Errorf(code, "%s at byte %d", msg, off)
}

// invalidAt returns an ErrInvalidModule at module offset off, for checks
// outside any reader.
func invalidAt(off int, format string, args ...any) error {
	return protocol.Errorf(protocol.ErrInvalidModule, "%s at byte %d", fmt.Sprintf(format, args...), off)
}

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.buf) {
		return 0, r.invalid("unexpected end")
	}
	b := r.buf[r.pos]
	r.pos++
	return b, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, r.invalid("%d bytes requested, %d left", n, r.remaining())
	}
	b := r.buf[r.pos : r.pos+n]
	r.pos += n
	return b, nil
}

// u32 reads an unsigned LEB128 of at most 5 bytes whose value fits 32 bits.
func (r *reader) u32() (uint32, error) {
	start := r.offset()
	var v uint64
	for i := 0; i < 5; i++ {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if v > 0xffffffff {
				return 0, r.invalidAt(start, "integer too large")
			}
			return uint32(v), nil
		}
	}
	return 0, r.invalidAt(start, "integer representation too long")
}

// signed reads a signed LEB128 of the given bit width (32, 33 or 64). The
// unused high bits of a maximal-length encoding must extend the sign.
func (r *reader) signed(bits int) (int64, error) {
	start := r.offset()
	maxBytes := (bits + 6) / 7
	var v int64
	shift := 0
	for i := 0; i < maxBytes; i++ {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 != 0 {
			continue
		}
		if i == maxBytes-1 {
			used := bits - 7*i // value bits carried by this byte
			sign := (b >> (used - 1)) & 1
			upper := b >> used
			if (sign == 0 && upper != 0) || (sign == 1 && upper != byte(1<<(7-used))-1) {
				return 0, r.invalidAt(start, "integer too large")
			}
		}
		if shift < 64 && b&0x40 != 0 {
			v |= -1 << shift
		}
		return v, nil
	}
	return 0, r.invalidAt(start, "integer representation too long")
}

// count reads a vector length and refuses one that could not fit in the
// remaining bytes (each element takes at least minSize), so that a
// declared length never drives an allocation before it is backed by input.
func (r *reader) count(minSize int, what string) (int, error) {
	start := r.offset()
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(minSize) > uint64(r.remaining()) {
		return 0, r.invalidAt(start, "%s count %d exceeds the %d bytes left", what, n, r.remaining())
	}
	return int(n), nil
}

// index reads an index and refuses one not below n, the size of its index
// space; format describes the refusal from the index and n.
func (r *reader) index(n int, format string) (uint32, error) {
	off := r.offset()
	i, err := r.u32()
	if err != nil {
		return 0, err
	}
	if int64(i) >= int64(n) {
		return 0, r.invalidAt(off, format, i, n)
	}
	return i, nil
}

// name reads a length-prefixed UTF-8 name.
func (r *reader) name() (string, error) {
	start := r.offset()
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", r.invalidAt(start, "name is not valid UTF-8")
	}
	return string(b), nil
}
