package jsonmsg

import (
	"encoding"
	"strconv"
	"unicode/utf8"
)

// Encoder writes one JSON value, compactly, in the order of its calls.
// Every method returns the encoder, so a message can be written in one
// expression:
//
//	out, err := new(jsonmsg.Encoder).BeginObject().
//		Key("balance").Uint64(balance).
//		EndObject().Bytes()
//
// Misuse (a value where a member name is due, an unbalanced End, a second
// top-level value) is recorded and returned by Bytes. The zero Encoder is
// ready to use.
type Encoder struct {
	buf    []byte
	stack  []frame
	keyed  bool // a member name was written and its value is due
	done   bool // the top-level value is complete
	misuse error
}

type frame struct {
	object bool
	n      int // members or elements written
}

func (e *Encoder) fail(msg string) *Encoder {
	if e.misuse == nil {
		e.misuse = &Error{kind: ErrMisuse, msg: "jsonmsg: encoder: " + msg}
	}
	return e
}

// value prepares for a value; it reports false after a misuse.
func (e *Encoder) value() bool {
	if e.misuse != nil {
		return false
	}
	if e.done {
		e.fail("a second top-level value")
		return false
	}
	if len(e.stack) == 0 {
		return true
	}
	top := &e.stack[len(e.stack)-1]
	if top.object {
		if !e.keyed {
			e.fail("an object member without a name (call Key first)")
			return false
		}
		e.keyed = false
	} else if top.n > 0 {
		e.buf = append(e.buf, ',')
	}
	top.n++
	return true
}

// wrote finishes a scalar or a closed container.
func (e *Encoder) wrote() *Encoder {
	if len(e.stack) == 0 {
		e.done = true
	}
	return e
}

// BeginObject starts an object.
func (e *Encoder) BeginObject() *Encoder {
	if e.value() {
		e.buf = append(e.buf, '{')
		e.stack = append(e.stack, frame{object: true})
	}
	return e
}

// EndObject ends the current object.
func (e *Encoder) EndObject() *Encoder { return e.end(true, '}') }

// BeginArray starts an array.
func (e *Encoder) BeginArray() *Encoder {
	if e.value() {
		e.buf = append(e.buf, '[')
		e.stack = append(e.stack, frame{})
	}
	return e
}

// EndArray ends the current array.
func (e *Encoder) EndArray() *Encoder { return e.end(false, ']') }

func (e *Encoder) end(object bool, c byte) *Encoder {
	if e.misuse != nil {
		return e
	}
	if len(e.stack) == 0 || e.stack[len(e.stack)-1].object != object || e.keyed {
		return e.fail("unbalanced " + string(c))
	}
	e.stack = e.stack[:len(e.stack)-1]
	e.buf = append(e.buf, c)
	return e.wrote()
}

// Key writes the name of the next member of the current object.
func (e *Encoder) Key(name string) *Encoder {
	if e.misuse != nil {
		return e
	}
	if len(e.stack) == 0 || !e.stack[len(e.stack)-1].object || e.keyed {
		return e.fail("a member name outside an object, or two in a row")
	}
	if e.stack[len(e.stack)-1].n > 0 {
		e.buf = append(e.buf, ',')
	}
	e.buf = append(appendString(e.buf, name), ':')
	e.keyed = true
	return e
}

// String writes a string. Invalid UTF-8 is replaced by U+FFFD.
func (e *Encoder) String(s string) *Encoder {
	if e.value() {
		e.buf = appendString(e.buf, s)
	}
	return e.wrote()
}

// Uint64 writes a non-negative integer.
func (e *Encoder) Uint64(n uint64) *Encoder {
	if e.value() {
		e.buf = strconv.AppendUint(e.buf, n, 10)
	}
	return e.wrote()
}

// Int64 writes an integer.
func (e *Encoder) Int64(n int64) *Encoder {
	if e.value() {
		e.buf = strconv.AppendInt(e.buf, n, 10)
	}
	return e.wrote()
}

// Bool writes true or false.
func (e *Encoder) Bool(b bool) *Encoder {
	if e.value() {
		e.buf = strconv.AppendBool(e.buf, b)
	}
	return e.wrote()
}

// Null writes null.
func (e *Encoder) Null() *Encoder {
	if e.value() {
		e.buf = append(e.buf, "null"...)
	}
	return e.wrote()
}

// Text writes m's text form as a string (a contractsdk.Address as hex,
// for instance).
func (e *Encoder) Text(m encoding.TextMarshaler) *Encoder {
	t, err := m.MarshalText()
	if err != nil {
		return e.fail("MarshalText: " + err.Error())
	}
	return e.String(string(t))
}

// Value writes a parsed value (objects keep their member order).
func (e *Encoder) Value(v Value) *Encoder {
	if v.n == nil {
		return e.Null()
	}
	return e.node(v.n)
}

func (e *Encoder) node(n *node) *Encoder {
	switch n.kind {
	case KindNull:
		return e.Null()
	case KindBool:
		return e.Bool(n.b)
	case KindString:
		return e.String(n.text)
	case KindNumber:
		if e.value() {
			e.buf = append(e.buf, n.text...)
		}
		return e.wrote()
	case KindArray:
		e.BeginArray()
		for i := range n.elems {
			e.node(&n.elems[i])
		}
		return e.EndArray()
	default:
		e.BeginObject()
		for i := range n.elems {
			e.Key(n.keys[i]).node(&n.elems[i])
		}
		return e.EndObject()
	}
}

// Bytes returns the encoded value, or an error naming the first misuse
// (also when nothing was written or a container is still open).
func (e *Encoder) Bytes() ([]byte, error) {
	if e.misuse != nil {
		return nil, e.misuse
	}
	if !e.done {
		return nil, &Error{kind: ErrMisuse, msg: "jsonmsg: encoder: incomplete value (an object or array is open, or nothing was written)"}
	}
	return e.buf, nil
}

// appendString writes s as a JSON string, escaping what RFC 8259 requires
// and U+2028/U+2029 (as encoding/json does, so the text is also valid
// JavaScript).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// maxQuoted bounds how much of an input an error message repeats.
const maxQuoted = 64

// quote renders s for an error message: as a JSON string of at most
// maxQuoted bytes of s.
func quote(s string) string {
	if len(s) > maxQuoted {
		return string(appendString(nil, s[:maxQuoted])) + "..."
	}
	return string(appendString(nil, s))
}
