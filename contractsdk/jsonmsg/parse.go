package jsonmsg

import (
	"strconv"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects in a parsed input. The
// parser recurses once per level, and a contract has a call depth limit of
// 1,000.
const MaxDepth = 64

// Kind is the type of a JSON value.
type Kind uint8

// JSON value kinds.
const (
	KindNull Kind = iota
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

// String names the kind for error messages ("a string", "an object", ...).
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindBool:
		return "a boolean"
	case KindNumber:
		return "a number"
	case KindString:
		return "a string"
	case KindArray:
		return "an array"
	case KindObject:
		return "an object"
	}
	return "kind " + strconv.Itoa(int(k))
}

// node is one parsed value.
type node struct {
	kind  Kind
	b     bool
	text  string   // string contents (unescaped), or a number's literal
	keys  []string // object member names, parallel to elems
	elems []node   // array elements, or object member values
}

type parser struct {
	data  []byte
	pos   int
	depth int
}

func parse(data []byte) (*node, error) {
	p := &parser{data: data}
	p.space()
	n, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, p.fail("data after the value")
	}
	return &n, nil
}

func (p *parser) fail(msg string) error {
	return &Error{kind: ErrSyntax, msg: "invalid JSON: " + msg + " at byte " + strconv.Itoa(p.pos)}
}

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (node, error) {
	if p.pos >= len(p.data) {
		return node{}, p.fail("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.string()
		return node{kind: KindString, text: s}, err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case p.literal("true"):
		return node{kind: KindBool, b: true}, nil
	case p.literal("false"):
		return node{kind: KindBool}, nil
	case p.literal("null"):
		return node{kind: KindNull}, nil
	}
	return node{}, p.fail("unexpected character " + quote(string(p.data[p.pos:p.pos+1])))
}

func (p *parser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.fail("nesting deeper than " + strconv.Itoa(MaxDepth) + " levels")
	}
	p.pos++ // the opening bracket
	p.space()
	return nil
}

func (p *parser) object() (node, error) {
	n := node{kind: KindObject}
	if err := p.enter(); err != nil {
		return n, err
	}
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return n, nil
	}
	var seen map[string]bool // once the object is large enough to need it
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return n, p.fail("want a member name")
		}
		at := p.pos
		key, err := p.string()
		if err != nil {
			return n, err
		}
		if seen == nil && len(n.keys) >= 8 {
			seen = make(map[string]bool, 2*len(n.keys))
			for _, k := range n.keys {
				seen[k] = true
			}
		}
		if dup := seen[key] || seen == nil && contains(n.keys, key); dup {
			p.pos = at
			return n, p.fail("duplicate member " + quote(key))
		}
		if seen != nil {
			seen[key] = true
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return n, p.fail("want ':' after a member name")
		}
		p.pos++
		p.space()
		v, err := p.value()
		if err != nil {
			return n, err
		}
		n.keys = append(n.keys, key)
		n.elems = append(n.elems, v)
		p.space()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			p.space()
			continue
		}
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			p.depth--
			return n, nil
		}
		return n, p.fail("want ',' or '}' in an object")
	}
}

func contains(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

func (p *parser) array() (node, error) {
	n := node{kind: KindArray}
	if err := p.enter(); err != nil {
		return n, err
	}
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return n, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return n, err
		}
		n.elems = append(n.elems, v)
		p.space()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			p.space()
			continue
		}
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			p.pos++
			p.depth--
			return n, nil
		}
		return n, p.fail("want ',' or ']' in an array")
	}
}

// number checks the RFC 8259 number grammar and keeps the literal; the
// readers convert it to the type they are asked for.
func (p *parser) number() (node, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '0':
		p.pos++
	case p.digits() == 0:
		return node{}, p.fail("want a digit")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return node{}, p.fail("want a digit after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return node{}, p.fail("want a digit in the exponent")
		}
	}
	return node{kind: KindNumber, text: string(p.data[start:p.pos])}, nil
}

func (p *parser) digits() int {
	start := p.pos
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos - start
}

// string reads a string starting at its opening quote and returns its
// contents. Invalid UTF-8, raw control characters and unpaired surrogates
// are errors: a contract should never store text it cannot print back.
func (p *parser) string() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.data[start:p.pos]
			p.pos++
			return string(s), nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.fail("control character in a string")
		case c == '\\':
			var err error
			if buf, err = p.escape(buf); err != nil {
				return "", err
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", p.fail("invalid UTF-8 in a string")
			}
			buf = append(buf, p.data[p.pos:p.pos+size]...)
			p.pos += size
		default:
			buf = append(buf, c)
			p.pos++
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) escape(buf []byte) ([]byte, error) {
	if p.pos+1 >= len(p.data) {
		return buf, p.fail("unterminated string")
	}
	c := p.data[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return append(buf, c), nil
	case 'b':
		return append(buf, '\b'), nil
	case 'f':
		return append(buf, '\f'), nil
	case 'n':
		return append(buf, '\n'), nil
	case 'r':
		return append(buf, '\r'), nil
	case 't':
		return append(buf, '\t'), nil
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return buf, p.fail("want 4 hex digits after \\u")
		}
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return buf, p.fail("unpaired surrogate")
		case r >= 0xd800 && r <= 0xdbff:
			if !p.literal(`\u`) {
				return buf, p.fail("unpaired surrogate")
			}
			lo, ok := p.hex4()
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return buf, p.fail("unpaired surrogate")
			}
			r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
		}
		return utf8.AppendRune(buf, r), nil
	}
	p.pos--
	return buf, p.fail("unknown escape")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	p.pos += 4
	return r, true
}
